"""Log a report to an MLflow run: every figure as PNG and the HTML page.

A training or scoring run that also carries the customer-base report lets the
people comparing runs see the base the model was trained or applied on, next to
its metrics, in the MLflow UI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from churnml.errors import ChurnmlError
from churnml.reporting.build import Report

#: Folder of the run's artifacts that holds the report.
ARTIFACT_PATH = "customer_report"


def check_run(run_id: str) -> None:
    """Fail before any work when ``run_id`` is not a run of the configured store."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient().get_run(run_id)
    except MlflowException as err:
        raise ChurnmlError(f"no MLflow run {run_id!r}: {str(err).splitlines()[0]}") from None


def log_report(run_id: str, report: Report, html_path: Path) -> list[str]:
    """Log the figures and ``html_path`` under ``customer_report/``; return the artifact paths."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    logged = []
    with tempfile.TemporaryDirectory(prefix="churnml-report-") as tmp:
        for fig in report.figures:
            png = Path(tmp) / f"{fig.name}.png"
            png.write_bytes(fig.png)
            client.log_artifact(run_id, str(png), artifact_path=ARTIFACT_PATH)
            logged.append(f"{ARTIFACT_PATH}/{png.name}")
    client.log_artifact(run_id, str(html_path), artifact_path=ARTIFACT_PATH)
    logged.append(f"{ARTIFACT_PATH}/{html_path.name}")
    return logged
