"""Property-based testing of the service against its own published OpenAPI document.

Schemathesis generates valid and invalid requests for every operation of
``/docs.json`` of a real ``bentoml serve`` process (bounded number of examples,
fixed seed) and runs *every* check on each answer: no 5xx, the status, content type,
headers and body as the document declares them (errors included), invalid input
rejected, valid input accepted. A schema-valid request may still be refused with
422 (the data say nothing can be scored, e.g. no purchase before ``as_of``) or 404
(an unknown customer), both documented.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import PositiveDataAcceptanceConfig

from churnml.serving.process import ServerProcess

pytestmark = pytest.mark.server

#: Examples per body-taking operation: valid bodies reach the scorer (~0.1 s each), most
#: invalid ones stop at the schema (~ms each).
MAX_EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 30}


@pytest.fixture(scope="module")
def api_schema(churn_server: ServerProcess) -> Any:
    """The schema the session's server (conftest) publishes."""
    loaded = schemathesis.openapi.from_url(f"{churn_server.url}/docs.json")
    loaded.config.update(base_url=churn_server.url)
    loaded.config.checks.update(included_check_names=["all"])
    loaded.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=["2xx", "404", "422"]
    )
    # An invalid body can also be too large (a list far beyond its maxItems): the service
    # refuses those with 413 before reading them, which rejects them just as well.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return loaded


@pytest.fixture(scope="module")
def auth(churn_server: ServerProcess) -> dict[str, str]:
    return {"X-API-Key": churn_server.api_key or ""}


#: Every operation of the published schema (a test below keeps this list complete).
OPERATIONS = [
    ("POST", "/score"),
    ("POST", "/next_best_action"),
    ("POST", "/score_batch"),
    ("GET", "/model"),
    ("GET", "/customers/{customer_id}"),
    ("GET", "/healthz"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    published = {
        (op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())
    }
    assert published == set(OPERATIONS)


#: Valid and invalid inputs for operations that take any; valid calls for the probes.
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or method == "POST" or "{" in path
]


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES]
)
def test_every_answer_conforms_to_the_published_document(
    api_schema: Any, auth: dict[str, str], method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    examples = MAX_EXAMPLES[mode] if method == "POST" else 10

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call_and_validate(headers=auth, timeout=60)
        assert "Traceback" not in response.text

    check()
