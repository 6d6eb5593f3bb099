"""Training against a real ``mlflow server`` process (SQLite backend) on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from churnml.config import Config
from churnml.pipeline import train

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_training_against_a_tracking_server(
    mlflow_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    config = Config.from_dict(
        {
            "data": {"dataset": "simulated", "simulate_customers": 800},
            "time": {"as_of": "2025-01-01"},
            "tracking": {"model_name": "churnml-server"},
        }
    )
    result = train(config, show_progress=False)
    assert result.tracking_uri == mlflow_server
    client = MlflowClient(mlflow_server, registry_uri=mlflow_server)
    run = client.get_run(result.run_id)
    assert run.data.metrics["churn_roc_auc"] > 0.7
    assert (
        str(client.get_model_version_by_alias("churnml-server", "champion").version)
        == result.version
    )
    paths = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert "evaluation/report.md" in paths
    # Nothing was written to the embedded store.
    assert not (Path(os.environ["CHURNML_HOME"]) / "artifacts" / run.info.experiment_id).exists()
