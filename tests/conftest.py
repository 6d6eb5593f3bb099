"""Shared fixtures: an isolated working folder per test session, small data sets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and keep no example database
# (no .hypothesis/ folder in the working tree): a failure seen once is seen again.
settings.register_profile("churnml", derandomize=True, database=None, deadline=None)
settings.load_profile("churnml")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test away from the developer's own MLflow store and telemetry."""
    home = tmp_path_factory.mktemp("churnml-home")
    os.environ["CHURNML_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _no_leaks_between_tests() -> Iterator[None]:
    """Each test starts from the session's environment and MLflow location.

    ``mlflow.set_tracking_uri`` (called by ``train`` and ``configure_mlflow``) sets a
    process-wide URI and exports ``MLFLOW_TRACKING_URI``; without this, a test would
    silently inherit the store of the one before it. The private attributes are
    MLflow's own globals (the version is locked).
    """
    import mlflow.tracking._model_registry.utils as registry
    import mlflow.tracking._tracking_service.utils as tracking

    env = dict(os.environ)
    uris = (tracking._tracking_uri, registry._registry_uri)
    yield
    os.environ.clear()
    os.environ.update(env)
    tracking._tracking_uri, registry._registry_uri = uris


# A model trained once per test session, shared by the scoring, batch, Spark and HTTP
# service tests.
@pytest.fixture(scope="session")
def trained_model(_isolated_environment: None) -> object:
    """``churnml.pipeline.train`` on ~1,500 simulated customers as of 2025-01-01.

    Returns the ``TrainResult`` (``.bundle``, ``.model_uri``, ``.version``); the
    model is logged and registered in the session's isolated ``$CHURNML_HOME``.
    """
    from churnml.config import Config
    from churnml.pipeline import train

    config = Config.from_dict(
        {
            "data": {"dataset": "simulated", "simulate_customers": 1500},
            "time": {"as_of": "2025-01-01"},
        }
    )
    return train(config, show_progress=False)


@pytest.fixture(scope="session")
def churn_server(trained_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``bentoml serve`` of the HTTP service on a free loopback port.

    It loads exactly the session's trained model version (``models:/churnml/<version>``),
    requires an API key (``server.api_key``), accepts bodies up to 1 MB and reads
    published scores from its own SQLite file (``server.env["CHURNML_SCORES_URL"]``).
    Shared by the HTTP service and fuzz tests; stopped at the end of the session.
    """
    from churnml.serving.process import start_server
    from churnml.serving.run import serve_environment

    tmp = tmp_path_factory.mktemp("churn-server")
    env = serve_environment(
        model_uri=f"models:/{trained_model.model_name}/{trained_model.version}",
        api_key="test-key-5b0c1f",
    )
    env.update(
        {
            "MLFLOW_TRACKING_URI": trained_model.tracking_uri,
            "CHURNML_MAX_REQUEST_BYTES": "1000000",
            "CHURNML_SCORES_URL": f"sqlite:///{tmp / 'scores.db'}",
            "BENTOML_HOME": str(tmp / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
        }
    )
    server = start_server(env, tmp / "server.log", timeout=180)
    yield server
    server.stop()
