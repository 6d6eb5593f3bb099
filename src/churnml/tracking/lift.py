"""A finished campaign's lift report as an MLflow run (experiment ``churnml-lift``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import mlflow
import pandas as pd

from churnml.actions.lift import LiftReport
from churnml.tracking.store import configure_mlflow

EXPERIMENT = "churnml-lift"


def log_lift(report: LiftReport, files: Iterable[Path], campaign_id: str) -> str:
    """Log the overall lift figures as metrics and ``files`` as artifacts; the run id."""
    configure_mlflow(experiment=EXPERIMENT)
    with mlflow.start_run(run_name=f"lift-{campaign_id}") as run:
        overall = report.to_frame().iloc[0]
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in overall.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and pd.notna(v)
            }
        )
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="lift")
    return str(run.info.run_id)
