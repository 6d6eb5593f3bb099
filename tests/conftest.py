"""Shared fixtures: an isolated working folder per test session, small data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
