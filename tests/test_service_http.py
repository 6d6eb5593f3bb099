"""The HTTP service against a real ``bentoml serve`` process on a loopback port.

One server (API key on, small body limit) serves every test of the module; a second,
pointed at an empty MLflow store, shows that a missing model fails readiness with a
message instead of crash-looping. Parity: the HTTP scores of simulated customers
equal the batch scorer's for the same customers and model version.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
import pytest
from pydantic import ValidationError

from churnml.data.contract import CONSENT_COLUMNS, validate_tables
from churnml.datasets import simulate
from churnml.scoring.output import FLOAT_OUTPUTS
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer
from churnml.serving.payload import payload_from_tables
from churnml.serving.process import ServerProcess, start_server
from churnml.serving.run import serve_environment
from churnml.serving.schemas import (
    EXAMPLE_BATCH_REQUEST,
    EXAMPLE_CUSTOMER,
    EXAMPLE_REQUEST,
    ActionResult,
    Customer,
    Order,
    PublishedScore,
    ScoreResult,
)
from churnml.tracking.pyfunc import load_bundle
from churnml.tracking.store import configure_mlflow

pytestmark = pytest.mark.server

API_KEY = "test-key-5b0c1f"
AS_OF = "2025-01-01"
MAX_BYTES = 1_000_000
#: A value sent in requests that must never appear in the server log.
SENTINEL_AMOUNT = 98765.4321
FLOAT_FIELDS = FLOAT_OUTPUTS  # the output columns that are numbers


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_uri(trained_model: Any) -> str:
    """The exact registered version the server loads (other tests may move the champion)."""
    return f"models:/{trained_model.model_name}/{trained_model.version}"


@pytest.fixture(scope="module")
def server(churn_server: ServerProcess) -> ServerProcess:
    """The session's server (conftest): this model version, API key, 1 MB body limit."""
    assert churn_server.api_key == API_KEY
    assert churn_server.env["CHURNML_MAX_REQUEST_BYTES"] == str(MAX_BYTES)
    return churn_server


@pytest.fixture(scope="session", autouse=True)
def empty_store_server(
    _isolated_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server over an empty MLflow store, started first (no wait) so that its start-up
    overlaps the training of the shared model."""
    tmp = tmp_path_factory.mktemp("no-model")
    env = serve_environment(
        base={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    )
    env.update(
        {
            "CHURNML_HOME": str(tmp / "empty-home"),
            "BENTOML_HOME": str(tmp / "bentoml"),
            "CHURNML_MODEL_URI": "models:/churnml@champion",
        }
    )
    srv = start_server(env, tmp / "server.log", wait_path=None)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def simulated(trained_model: Any) -> Any:
    """The raw tables the model was trained on (same simulator, size and seed)."""
    config = trained_model.bundle.config
    return simulate(config.data.simulate_customers, seed=config.seed)


@pytest.fixture(scope="module")
def batch_scores(simulated: Any, model_uri: str, trained_model: Any) -> pd.DataFrame:
    """The batch scorer's output for the whole simulated population."""
    configure_mlflow(trained_model.tracking_uri)
    bundle = load_bundle(model_uri)
    tables = validate_tables(
        simulated.transactions, simulated.customers, simulated.events, simulated.campaigns
    )
    return Scorer(bundle).score(tables, AS_OF).set_index("customer_id", drop=False)


@pytest.fixture(scope="module")
def parity_ids(simulated: Any, batch_scores: pd.DataFrame) -> list[str]:
    """Scored customers with the inputs that matter: campaigns, events, refunds, control group."""
    camp = set(simulated.campaigns["customer_id"].astype(str))
    events = set(simulated.events["customer_id"].astype(str))
    refunds = set(
        simulated.transactions.loc[simulated.transactions["amount"] < 0, "customer_id"].astype(str)
    )
    control = set(batch_scores.index[batch_scores["control_group"]])
    ids = list(batch_scores.index)
    chosen: list[str] = []
    for group in (camp, events, refunds, control, set(ids)):
        chosen += [c for c in ids if c in group and c not in chosen][:8]
    return chosen[:40]


def _payload(simulated: Any, ids: list[str]) -> list[dict[str, Any]]:
    return payload_from_tables(
        simulated.transactions,
        simulated.customers,
        simulated.events,
        simulated.campaigns,
        customer_ids=ids,
    )


def _loc_names(body: dict[str, Any]) -> list[str]:
    return [".".join(map(str, d["loc"])) for d in body["detail"]]


def _close(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _assert_same_result(got: Any, want: Any, where: str = "") -> None:
    """Equal JSON values, floats to 1e-9: a customer scored alone and inside a batch may
    differ in the last bit of a sum, never more."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            _assert_same_result(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same_result(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert _close(want, got), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _assert_same_as_batch(result: dict[str, Any], row: pd.Series) -> None:
    for col in OUTPUT_COLUMNS:
        got, want = result[col], row[col]
        if col in FLOAT_FIELDS:
            assert _close(want, got), f"{row['customer_id']}.{col}: http {got} != batch {want}"
        elif col == "churn_reasons":
            assert got == json.loads(want), f"{row['customer_id']}.{col}"
        elif col == "control_group":
            assert got is bool(want)
        else:
            assert got == str(want), f"{row['customer_id']}.{col}: http {got!r} != batch {want!r}"


# ----------------------------------------------------------------------------- endpoints


def test_timestamp_pattern_accepts_exactly_the_calendar_dates_of_the_contract_range() -> None:
    pattern = re.compile(Order.model_json_schema()["properties"]["order_date"]["pattern"])
    day = dt.date(1899, 12, 25)
    while day < dt.date(2200, 1, 8):  # every real day, valid inside [1900, 2200) only
        assert bool(pattern.match(day.isoformat())) is (1900 <= day.year < 2200), day
        day += dt.timedelta(days=1)
    for impossible in (
        "2023-02-29",
        "2100-02-29",
        "1900-02-29",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
    ):
        assert not pattern.match(impossible), impossible
    for stamp in (
        "2024-02-29T23:59:59.123456789",
        "2024-03-31 18:05",
        "2024-03-31T18:05:00+02:00",
        "2024-03-31T18:05:00-0530",
        "2024-03-31T18:05:00Z",
    ):
        assert pattern.match(stamp), stamp
    for bad in (
        "2024-03-31T24:00",
        "2024-03-31Z",
        "2024-03-31T18:60",
        "-2024-03-31",
        "２０２４-03-31",
    ):
        assert not pattern.match(bad), bad


#: ``\s`` of ECMA-262, the regular expressions of JSON Schema (what clients and fuzzers use).
_ECMA_SPACE = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def test_text_pattern_means_the_same_to_clients_and_to_the_server() -> None:
    """A one-character id matches the published pattern (read as ECMA-262) iff the server takes it."""
    published = Customer.model_json_schema()["properties"]["customer_id"]["pattern"]
    assert published.count("\\s") == 1
    as_clients_read_it = re.compile(published.replace("\\s", re.escape(_ECMA_SPACE)))
    candidates = {chr(c) for c in range(0x3100) if chr(c).isspace()} | set(_ECMA_SPACE)
    for char in sorted(candidates | {"a", "\u00e9", "\u0085", "\ufeff", "\u180e"}):
        body = {"customer_id": char, "orders": [_ORDER]}
        try:
            Customer.model_validate(body)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(as_clients_read_it.match(char)) is accepted, hex(ord(char))


def test_request_model_carries_every_consent_flag_of_the_contract() -> None:
    assert set(CONSENT_COLUMNS) <= set(Customer.model_fields)


def test_response_models_carry_every_scorer_column() -> None:
    assert set(ScoreResult.model_fields) == set(OUTPUT_COLUMNS)
    assert set(OUTPUT_COLUMNS) <= set(PublishedScore.model_fields)
    decision = (
        "next_best_action",
        "action_channel",
        "expected_incremental_value",
        "control_group",
        "intended_action",
        "action_reason",
        "uplift_source",
    )
    assert set(decision) <= set(ActionResult.model_fields)


def test_probes_metrics_and_docs_are_open_without_a_key(server: ServerProcess) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/docs.json"):
        assert httpx.get(server.url + path).status_code == 200, path
    metrics = httpx.get(server.url + "/metrics")
    assert metrics.status_code == 200
    assert "bentoml_service_request" in metrics.text


def test_openapi_documents_every_endpoint_with_an_example(server: ServerProcess) -> None:
    spec = httpx.get(server.url + "/docs.json").json()
    for path in (
        "/score",
        "/next_best_action",
        "/score_batch",
        "/model",
        "/customers/{customer_id}",
    ):
        assert path in spec["paths"], path
    request_schema = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert request_schema["example"] == EXAMPLE_REQUEST
    assert request_schema["properties"]["customers"]["maxItems"] == 1000


def test_score_returns_every_output_field_with_reasons_and_model_version(
    client: httpx.Client, trained_model: Any
) -> None:
    r = client.post("/score", json=EXAMPLE_REQUEST)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == str(trained_model.version) and body["as_of"] == AS_OF
    (result,) = body["results"]
    assert set(OUTPUT_COLUMNS) <= set(result)
    assert result["customer_id"] == EXAMPLE_CUSTOMER["customer_id"]
    assert 0.0 <= result["churn_probability"] <= 1.0 and 0.0 <= result["p_alive"] <= 1.0
    assert result["churn_reasons"] and {"feature", "value", "contribution", "description"} <= set(
        result["churn_reasons"][0]
    )
    assert result["model_name"] == trained_model.model_name


def test_as_of_defaults_to_today(client: httpx.Client) -> None:
    before = dt.date.today()
    r = client.post("/score", json={"customers": [EXAMPLE_CUSTOMER]})
    after = dt.date.today()
    assert r.status_code == 200, r.text
    assert r.json()["as_of"] in {before.isoformat(), after.isoformat()}  # across midnight too


def test_next_best_action_applies_consent_guardrail(
    client: httpx.Client, trained_model: Any
) -> None:
    r = client.post("/next_best_action", json=EXAMPLE_REQUEST)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["next_best_action"] in trained_model.bundle.catalogue.ids
    assert isinstance(result["control_group"], bool) and result["action_reason"]
    if result["next_best_action"] == "no_action":
        assert result["expected_incremental_value"] == 0.0 and result["action_channel"] == "none"
    else:
        assert result["expected_incremental_value"] > 0

    # Without any consent no contact action is eligible: no_action, and the reason says why.
    silent = {**EXAMPLE_CUSTOMER, **dict.fromkeys(CONSENT_COLUMNS, False)}
    (blocked,) = client.post(
        "/next_best_action", json={"as_of": AS_OF, "customers": [silent]}
    ).json()["results"]
    assert blocked["next_best_action"] == "no_action"
    assert blocked["control_group"] or "no consent" in blocked["action_reason"]


def test_model_describes_the_loaded_version(client: httpx.Client, trained_model: Any) -> None:
    r = client.get("/model")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["model_version"] == str(trained_model.version)
    assert info["training_as_of"] == trained_model.bundle.as_of and info["trained_at"]
    assert info["metrics"] and set(info["bgnbd_params"]) == {"r", "alpha", "a", "b"}
    assert "no_action" in info["actions"]


def test_score_batch_scores_each_customer_and_reports_errors_per_customer(
    client: httpx.Client, simulated: Any, parity_ids: list[str], batch_scores: pd.DataFrame
) -> None:
    customers = [{**c, "as_of": AS_OF} for c in _payload(simulated, parity_ids[:5])]
    too_early = {**customers[0], "customer_id": "early-bird", "as_of": "2020-01-01"}
    r = client.post("/score_batch", json={"customers": [*customers, too_early]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    items = r.json()
    assert [i["customer_id"] for i in items] == [*parity_ids[:5], "early-bird"]
    for item in items[:5]:
        assert item["error"] is None
        _assert_same_as_batch(item["result"], batch_scores.loc[item["customer_id"]])
    assert items[5]["result"] is None
    assert items[5]["error"]["detail"][0]["loc"] == ["orders"]
    assert items[5]["error"]["detail"][0]["type"] == "no_purchase_before_as_of"


def test_score_batch_merges_concurrent_calls_without_mixing_customers(
    client: httpx.Client, simulated: Any, parity_ids: list[str], batch_scores: pd.DataFrame
) -> None:
    customers = [{**c, "as_of": AS_OF} for c in _payload(simulated, parity_ids[:16])]
    # The same customer id twice in concurrent calls, once with a truncated history:
    # each call must be scored on exactly the history it sent.
    first = customers[0]
    early = [o for o in first["orders"] if o["order_date"] < AS_OF and o["amount"] > 0][:1]
    truncated = {**first, "orders": early}

    def call(body: dict[str, Any]) -> list[dict[str, Any]]:
        resp = client.post("/score_batch", json=body)
        assert resp.status_code == 200, resp.text
        return list(resp.json())

    bodies = [{"customers": [c]} for c in customers] + [{"customers": [truncated]}]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, bodies))
    for c, (item,) in zip(customers, answers[:-1], strict=True):
        _assert_same_as_batch(item["result"], batch_scores.loc[c["customer_id"]])
    (alone,) = answers[-1]
    single = {k: v for k, v in truncated.items() if k != "as_of"}
    expected = client.post("/score", json={"as_of": AS_OF, "customers": [single]}).json()[
        "results"
    ][0]
    _assert_same_result(alone["result"], expected)


def test_concurrent_score_requests_are_answered_as_if_alone(
    client: httpx.Client, simulated: Any, parity_ids: list[str], batch_scores: pd.DataFrame
) -> None:
    """Concurrent ``/score`` calls are scored together; each gets its own answer or error."""
    customers = _payload(simulated, parity_ids[:16])
    late = {"customer_id": "late", "orders": [{"order_date": "2025-02-01", "amount": 5.0}]}
    bodies: list[dict[str, Any]] = [{"as_of": AS_OF, "customers": [c]} for c in customers]
    bodies.insert(5, {"as_of": AS_OF, "customers": [late]})
    bodies.insert(9, {"as_of": AS_OF, "customers": [customers[0], customers[0]]})

    def call(body: dict[str, Any]) -> httpx.Response:
        return client.post("/score", json=body)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, bodies * 2))
    for body, resp in zip(bodies * 2, answers, strict=True):
        ids = [c["customer_id"] for c in body["customers"]]
        if ids == ["late"]:
            assert resp.status_code == 422, resp.text
            assert resp.json()["detail"][0]["loc"] == ["customers", 0, "orders"]
        elif len(ids) == 2:
            assert resp.status_code == 422, resp.text
            assert resp.json()["detail"][0]["loc"] == ["customers", 1, "customer_id"]
        else:
            assert resp.status_code == 200, resp.text
            (result,) = resp.json()["results"]
            assert result["customer_id"] == ids[0]
            _assert_same_as_batch(result, batch_scores.loc[ids[0]])


def test_http_scores_equal_the_batch_scorer(
    client: httpx.Client,
    simulated: Any,
    parity_ids: list[str],
    batch_scores: pd.DataFrame,
    trained_model: Any,
) -> None:
    assert len(parity_ids) >= 30
    r = client.post("/score", json={"as_of": AS_OF, "customers": _payload(simulated, parity_ids)})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["customer_id"] for x in results] == parity_ids
    for result in results:
        _assert_same_as_batch(result, batch_scores.loc[result["customer_id"]])
    assert {x["model_version"] for x in results} == {str(trained_model.version)}
    assert any(x["control_group"] for x in results)  # the control group is the same over HTTP

    nba = client.post(
        "/next_best_action", json={"as_of": AS_OF, "customers": _payload(simulated, parity_ids)}
    )
    for result in nba.json()["results"]:
        row = batch_scores.loc[result["customer_id"]]
        assert result["next_best_action"] == row["next_best_action"]
        assert result["action_channel"] == row["action_channel"]
        assert _close(row["expected_incremental_value"], result["expected_incremental_value"])
        assert result["control_group"] is bool(row["control_group"])
        assert result["action_reason"] == row["action_reason"]


@pytest.fixture(scope="module")
def published(server: ServerProcess, batch_scores: pd.DataFrame) -> pd.DataFrame:
    """The batch scores published to the server's score table."""
    from churnml.scoring.publish import publish_scores

    publish_scores(batch_scores.reset_index(drop=True), url=server.env["CHURNML_SCORES_URL"])
    return batch_scores


def test_customer_lookup_reads_the_published_score_table(
    client: httpx.Client, published: pd.DataFrame, parity_ids: list[str]
) -> None:
    cid = parity_ids[0]
    r = client.get(f"/customers/{cid}")
    assert r.status_code == 200, r.text
    row = r.json()
    assert row["customer_id"] == cid
    assert _close(published.loc[cid, "churn_probability"], row["churn_probability"])
    assert row["next_best_action"] == published.loc[cid, "next_best_action"]


def test_unknown_customer_lookup_is_a_json_404_naming_the_id(
    client: httpx.Client, published: pd.DataFrame
) -> None:
    missing = client.get("/customers/no-such-customer")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert missing.json()["detail"][0]["loc"] == ["path", "customer_id"]


def test_a_forgotten_customer_gets_404_and_no_action_at_once(
    client: httpx.Client,
    server: ServerProcess,
    published: pd.DataFrame,
    simulated: Any,
) -> None:
    """``churnml forget`` takes effect without a restart: the lookup answers 404 and the
    decision endpoints answer ``no_action`` (outside the control group)."""
    from churnml.privacy.forget import forget_customers
    from churnml.scoring.publish import publish_scores

    url = server.env["CHURNML_SCORES_URL"]
    # A customer of this test's own: a contacted customer's history under a new id.
    contacted = published.index[published["next_best_action"] != "no_action"][:20]
    customer, decision = None, None
    for source in contacted:
        candidate = {**_payload(simulated, [source])[0], "customer_id": f"forget-me-{source}"}
        r = client.post("/next_best_action", json={"as_of": AS_OF, "customers": [candidate]})
        assert r.status_code == 200, r.text
        if r.json()["results"][0]["next_best_action"] != "no_action":
            customer, decision = candidate, r.json()["results"][0]
            break
    assert customer is not None and decision is not None
    cid = customer["customer_id"]
    row = published.loc[[contacted[0]]].reset_index(drop=True).assign(customer_id=cid)
    publish_scores(row, url=url)
    assert client.get(f"/customers/{cid}").status_code == 200

    report = forget_customers([cid], url=url)
    assert report.rows_deleted == 1

    lookup = client.get(f"/customers/{cid}")
    assert lookup.status_code == 404 and lookup.json()["error"] == "not_found"
    body = {"as_of": AS_OF, "customers": [customer]}
    for endpoint in ("/next_best_action", "/score"):
        result = client.post(endpoint, json=body).json()["results"][0]
        assert result["next_best_action"] == "no_action", endpoint
        assert result["control_group"] is False
        assert "asked to be forgotten" in result["action_reason"]
    batch = client.post("/score_batch", json={"customers": [{**customer, "as_of": AS_OF}]})
    assert batch.json()[0]["result"]["next_best_action"] == "no_action"
    # Another customer in the same request is decided as before.
    other = {**customer, "customer_id": f"kept-{cid}"}
    both = client.post("/next_best_action", json={"as_of": AS_OF, "customers": [customer, other]})
    kept = both.json()["results"][1]
    if not kept["control_group"]:
        assert kept["next_best_action"] == decision["next_best_action"]


# ----------------------------------------------------------------------------- bad input

_ORDER = {"order_date": "2024-05-01", "amount": 10.0}


def _with(**changes: Any) -> dict[str, Any]:
    customer = {"customer_id": "C1", "orders": [dict(_ORDER)], **changes}
    return {"as_of": AS_OF, "customers": [customer]}


BAD_BODIES = [
    # (case, body, status, a location the answer must name)
    (
        "wrong type",
        _with(orders=[{"order_date": "2024-05-01", "amount": "ten"}]),
        400,
        "customers.0.orders.0.amount",
    ),
    (
        "missing field",
        {"as_of": AS_OF, "customers": [{"customer_id": "C1"}]},
        400,
        "customers.0.orders",
    ),
    ("missing order date", _with(orders=[{"amount": 3.0}]), 400, "customers.0.orders.0.order_date"),
    (
        "negative date",
        _with(orders=[{"order_date": "-2024-05-01", "amount": 1.0}]),
        400,
        "customers.0.orders.0.order_date",
    ),
    ("negative as_of", {**_with(), "as_of": "-0001-01-01"}, 400, "as_of"),
    ("numeric as_of", {**_with(), "as_of": -86400}, 400, "as_of"),
    (
        "impossible date",
        _with(orders=[{"order_date": "2024-02-30", "amount": 1.0}]),
        400,
        "customers.0.orders.0.order_date",
    ),
    (
        "date out of range",
        _with(orders=[{"order_date": "1066-10-14", "amount": 1.0}]),
        400,
        "customers.0.orders.0.order_date",
    ),
    (
        "absurd amount",
        _with(orders=[{"order_date": "2024-05-01", "amount": 1e15}]),
        400,
        "customers.0.orders.0.amount",
    ),
    (
        "empty id",
        {"as_of": AS_OF, "customers": [{"customer_id": "  ", "orders": [_ORDER]}]},
        400,
        "customers.0.customer_id",
    ),
    ("unknown field", _with(loyalty_points=3), 400, "customers.0.loyalty_points"),
    ("no customers", {"as_of": AS_OF, "customers": []}, 400, "customers"),
    (
        "too many customers",
        {"customers": [{"customer_id": f"C{i}", "orders": [_ORDER]} for i in range(1001)]},
        400,
        "customers",
    ),
    ("too many orders", _with(orders=[_ORDER] * 10_001), 400, "customers.0.orders"),
    ("not an object", [1, 2, 3], 400, ""),
    ("no purchase before as_of", {**_with(), "as_of": "2024-05-01"}, 422, "customers.0.orders"),
    (
        "only refunds",
        _with(orders=[{"order_date": "2024-05-01", "amount": -5.0}]),
        422,
        "customers.0.orders",
    ),
    (
        "duplicate customer",
        {"as_of": AS_OF, "customers": [{"customer_id": "C1", "orders": [_ORDER]}] * 2},
        422,
        "customers.1.customer_id",
    ),
]


@pytest.mark.parametrize("endpoint", ["/score", "/next_best_action"])
@pytest.mark.parametrize(
    ("case", "body", "status", "loc"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_input_gets_a_4xx_naming_the_field(
    client: httpx.Client, endpoint: str, case: str, body: Any, status: int, loc: str
) -> None:
    r = client.post(endpoint, json=body)
    assert r.status_code == status, r.text
    answer = r.json()
    assert answer["error"] and "Traceback" not in r.text
    if loc:
        assert loc in _loc_names(answer), answer


def test_malformed_json_and_wrong_content_type(client: httpx.Client) -> None:
    for endpoint in ("/score", "/next_best_action", "/score_batch"):
        bad = client.post(
            endpoint, content=b'{"customers": [', headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["detail"][0]["type"] == "json_invalid"
        form = client.post(
            endpoint, content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"
    assert client.get("/score").status_code == 405


def test_score_batch_schema_errors_are_400(client: httpx.Client) -> None:
    r = client.post(
        "/score_batch", json={"customers": [{**EXAMPLE_CUSTOMER, "as_of": "2025-13-01"}]}
    )
    assert r.status_code == 400
    assert "customers.0.as_of" in _loc_names(r.json())
    assert client.post("/score_batch", json={"customers": []}).status_code == 400


def test_request_size_is_limited(client: httpx.Client) -> None:
    big = {
        "as_of": AS_OF,
        "customers": [
            {
                "customer_id": "C1",
                "orders": [_ORDER] * 9_000,
                "events": [{"event_date": "2024-01-01", "event_type": "x" * 60}] * 9_000,
            }
        ],
    }
    data = json.dumps(big).encode()
    assert len(data) > MAX_BYTES
    r = client.post("/score", content=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for i in range(0, len(data), 64_000):
            yield data[i : i + 64_000]

    streamed = client.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


# ----------------------------------------------------------------------------- access and logs


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {API_KEY}"},
    ],
)
def test_api_key_is_required(server: ServerProcess, headers: dict[str, str]) -> None:
    for method, path, body in (
        ("POST", "/score", EXAMPLE_REQUEST),
        ("POST", "/score_batch", EXAMPLE_BATCH_REQUEST),
        ("GET", "/model", None),
        ("GET", "/customers/C1", None),
    ):
        r = httpx.request(method, server.url + path, json=body, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "unauthorized"


def test_api_key_as_bearer_token(server: ServerProcess) -> None:
    r = httpx.post(
        server.url + "/score",
        json=EXAMPLE_REQUEST,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text


def test_logs_carry_no_customer_data(client: httpx.Client, server: ServerProcess) -> None:
    secret = {
        **EXAMPLE_CUSTOMER,
        "customer_id": "C-log-check",
        "orders": [
            {"order_date": "2024-05-01", "amount": SENTINEL_AMOUNT, "channel": "sentinelchannel"}
        ],
    }
    assert client.post("/score", json={"as_of": AS_OF, "customers": [secret]}).status_code == 200
    bad = {**secret, "orders": [{"order_date": "2024-05-01", "amount": str(SENTINEL_AMOUNT) + "x"}]}
    assert client.post("/score", json={"as_of": AS_OF, "customers": [bad]}).status_code == 400
    late = {**secret, "orders": [{"order_date": "2026-05-01", "amount": SENTINEL_AMOUNT}]}
    assert client.post("/score", json={"as_of": AS_OF, "customers": [late]}).status_code == 422
    log = server.log()
    assert "/score" in log  # the access log is on
    for value in (str(SENTINEL_AMOUNT), "sentinelchannel", "Traceback"):
        assert value not in log


# ----------------------------------------------------------------------------- no model


def test_without_a_model_readiness_fails_with_a_message(empty_store_server: ServerProcess) -> None:
    srv = empty_store_server
    srv.wait("/livez", 200, timeout=180)
    ready = httpx.get(srv.url + "/readyz")
    assert ready.status_code == 503
    assert "models:/churnml@champion" in ready.json()["detail"][0]["msg"]
    scored = httpx.post(srv.url + "/score", json=EXAMPLE_REQUEST)
    assert scored.status_code == 503 and scored.json()["error"] == "model_not_loaded"
    assert httpx.get(srv.url + "/model").status_code == 503
    # No score table was ever published to this server: every customer is unknown.
    lookup = httpx.get(srv.url + "/customers/no-such-customer")
    assert lookup.status_code == 404 and lookup.json()["error"] == "not_found"
    batch = httpx.post(srv.url + "/score_batch", json=EXAMPLE_BATCH_REQUEST)
    assert batch.status_code == 503 and batch.json()["error"] == "model_not_loaded"
    assert httpx.get(srv.url + "/livez").status_code == 200  # alive: no crash loop
    assert srv.process.poll() is None
    assert "no model loaded from models:/churnml@champion" in srv.log()


# ----------------------------------------------------------------------------- error schema


def _canonical(body: dict[str, Any]) -> None:
    """The service's one error shape: a sentence or code, and a list of {loc, msg, type}."""
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str)
    assert "IODescriptor" not in body["error"] and "validation error for" not in body["error"]
    assert body["detail"] and all(set(d) == {"loc", "msg", "type"} for d in body["detail"])
    assert "pydantic.dev" not in json.dumps(body)


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "error"),
    [
        ("POST", "/score", b'{"customers": [{"customer_id": "a", "orders": [{"order_date": "2024-01-01", "amount": "x"}]}]}', 400, "invalid request to POST /score"),
        ("POST", "/score", b"{broken", 400, "invalid request to POST /score"),
        ("POST", "/score_batch", b'{"customers": []}', 400, "invalid request to POST /score_batch"),
        ("GET", "/customers/" + "x" * 300, None, 422, "invalid request to GET /customers/{customer_id}"),
        ("GET", "/score", None, 405, "method_not_allowed: GET /score"),
        ("POST", "/no-such-endpoint", b"{}", 404, "not_found: POST /no-such-endpoint"),
    ],
)  # fmt: skip
def test_every_error_has_the_documented_schema(
    client: httpx.Client, method: str, path: str, content: bytes | None, status: int, error: str
) -> None:
    r = client.request(method, path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    body = r.json()
    _canonical(body)
    assert body["error"] == error
    assert "x" * 300 not in r.text  # the input is never echoed back


def test_openapi_declares_the_error_schema_for_every_error_status(server: ServerProcess) -> None:
    doc = httpx.get(server.url + "/docs.json").json()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                if code.startswith("2"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (
                    method,
                    path,
                    code,
                )
            if method == "post":
                assert op["requestBody"]["required"] is True
                assert {"400", "401", "413", "415", "422", "503"} <= set(op["responses"])
    assert "InvalidArgument" not in doc["components"]["schemas"]
