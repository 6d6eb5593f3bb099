"""Where MLflow keeps runs and models.

Resolution order: an explicit URI (config or flag), then ``MLFLOW_TRACKING_URI``,
then an embedded SQLite store in ``$CHURNML_HOME`` (default ``./.churnml``) with
its artifact folder beside it — so ``churnml train`` works with no server, and a
team points it at a shared server with one environment variable.

Nothing here runs at import time: callers configure MLflow inside ``main()``.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient


def churnml_home() -> Path:
    """The working folder of the embedded store (``$CHURNML_HOME`` or ``./.churnml``)."""
    return Path(os.environ.get("CHURNML_HOME", ".churnml")).resolve()


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """Tracking URI in order: explicit, ``MLFLOW_TRACKING_URI``, embedded SQLite."""
    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{churnml_home() / 'mlflow.db'}"


def configure_mlflow(
    tracking_uri: str | None = None, experiment: str | None = None
) -> MlflowClient:
    """Point MLflow at the resolved store and make sure the experiment exists.

    For the embedded store the experiment's artifacts go to
    ``$CHURNML_HOME/artifacts`` (not to ``./mlruns`` of whatever folder the
    process happens to run in). A remote server keeps its own artifact root.
    """
    uri = resolve_tracking_uri(tracking_uri)
    # Bundles are a handful of small files: a download progress bar is only noise.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if experiment:
        if client.get_experiment_by_name(experiment) is None:
            location = None
            if uri.startswith("sqlite:///"):
                location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
            client.create_experiment(experiment, artifact_location=location)
        mlflow.set_experiment(experiment)
    return client
