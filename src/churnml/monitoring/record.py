"""A monitoring check on record: its files, and an MLflow run (experiment ``churnml-monitor``).

:func:`write_files` writes ``drift.csv``, ``summary.json``, ``monitor.png`` and, when
a scores file's labels matured, ``outcomes.csv`` (churn per score decile).
:func:`log_monitor` makes one run per check, named after the batch's cut-off: the
thresholds and the model as parameters, every figure of :meth:`MonitorResult.metrics` (PSI per column, counts,
matured AUC, verdicts) as metrics, and the check's files as artifacts, so that PSI
and AUC of successive batches can be charted side by side in the MLflow UI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import mlflow

from churnml.data.io import atomic_path
from churnml.monitoring.check import MonitorResult
from churnml.monitoring.plots import monitor_figure
from churnml.tracking.store import configure_mlflow

EXPERIMENT = "churnml-monitor"


def write_files(result: MonitorResult, directory: str | Path) -> list[Path]:
    """Write the check's files into ``directory``; each appears complete or not at all."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = [d / "drift.csv", d / "summary.json", d / "monitor.png"]
    with atomic_path(written[0]) as tmp:
        result.drift.table.to_csv(tmp, index=False)
    with atomic_path(written[1]) as tmp:
        tmp.write_text(json.dumps(result.summary(), indent=2))
    with atomic_path(written[2]) as tmp:
        monitor_figure(result).savefig(tmp, format="png", dpi=110)
    if result.outcomes is not None and result.outcomes.deciles is not None:
        written.append(d / "outcomes.csv")
        with atomic_path(written[-1]) as tmp:
            result.outcomes.deciles.to_csv(tmp)
    return written


def log_monitor(result: MonitorResult, files: Iterable[Path], model_uri: str) -> str:
    """Log ``result`` and ``files`` as a run of ``churnml-monitor``; the run id."""
    configure_mlflow(experiment=EXPERIMENT)
    with mlflow.start_run(run_name=f"monitor-{result.as_of.date()}") as run:
        mlflow.log_params(
            {
                "model_uri": model_uri,
                "model_name": result.model_name,
                "model_version": result.model_version,
                "reference_as_of": result.reference.as_of,
                **{f"monitor.{k}": v for k, v in result.config.model_dump().items()},
            }
        )
        mlflow.set_tags(
            {
                "as_of": result.as_of.date().isoformat(),
                "churnml.step": "monitor",
                "moved": ", ".join(result.drift.moved)[:5000],
                "exit_code": str(result.exit_code),
            }
        )
        mlflow.log_metrics(result.metrics())
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="monitor")
    return str(run.info.run_id)
