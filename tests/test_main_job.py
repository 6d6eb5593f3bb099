"""The main job as a user runs it: every front-door command as a real process.

``churnml simulate`` writes the files; ``churnml train`` and ``training/train.py``
train and register from them; ``churnml evaluate`` backtests the champion;
``churnml score`` scores them with 2 pandas workers (and publishes) and with Spark;
``churnml serve`` starts and answers; ``churnml demo`` runs the whole job. Each
command runs in a temporary folder against its own MLflow store, so nothing lands in
the working tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from churnml.serving.process import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[1]
CHURNML = str(Path(sys.executable).with_name("churnml"))
AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("main-job")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    """The environment of every command: a store of this module's own."""
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "CHURNML_HOME": str(workdir / "home"),
        "BENTOML_HOME": str(workdir / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """Run a command; fail with its output unless it exits 0; return its stdout."""
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{args[:2]} exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def data(workdir: Path, env: dict[str, str]) -> dict[str, Path]:
    out = workdir / "data"
    _run(
        [CHURNML, "simulate", "--customers", "1200", "--seed", "11", "--out", str(out)],
        env,
        workdir,
    )
    return {
        name: out / f"{name}.csv" for name in ("transactions", "customers", "events", "campaigns")
    }


def _inputs(data: dict[str, Path]) -> list[str]:
    return [arg for name, path in data.items() for arg in (f"--{name}", str(path))]


@pytest.fixture(scope="module")
def trained(data: dict[str, Path], env: dict[str, str], workdir: Path) -> str:
    """``churnml train`` on the files: the first version, so the champion."""
    return _run(
        [CHURNML, "train", *_inputs(data), "--as-of", AS_OF, "--experiment", "main-job"],
        env,
        workdir,
    )


def test_train_command_registers_the_champion(trained: str, env: dict[str, str]) -> None:
    from mlflow.tracking import MlflowClient

    assert "version 1" in trained and "no champion yet" in trained
    client = MlflowClient(env["MLFLOW_TRACKING_URI"], registry_uri=env["MLFLOW_TRACKING_URI"])
    assert str(client.get_model_version_by_alias("churnml", "champion").version) == "1"
    run_id = client.get_model_version("churnml", "1").run_id
    assert client.get_run(run_id).data.metrics["churn_roc_auc"] > 0.7


def test_training_script_trains_from_a_yaml_config(
    trained: str, data: dict[str, Path], env: dict[str, str], workdir: Path
) -> None:
    config = yaml.safe_load((REPO / "training" / "configs" / "default.yaml").read_text())
    config["data"].update({name: str(path) for name, path in data.items()})
    config["time"]["as_of"] = AS_OF
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = _run(
        [sys.executable, str(REPO / "training" / "train.py"), "--config", str(path)], env, workdir
    )
    assert "version 2" in out  # registered after the CLI's version 1


def test_evaluate_backtests_the_champion(
    trained: str, data: dict[str, Path], env: dict[str, str], workdir: Path
) -> None:
    report = workdir / "backtest.md"
    out = _run(
        [CHURNML, "evaluate", *_inputs(data), "--as-of", "2024-10-01", "--report", str(report)],
        env,
        workdir,
    )
    text = report.read_text()
    assert "Backtest of models:/churnml@champion at 2024-10-01" in text
    model_row = next(line for line in text.splitlines() if line.startswith("| churn model"))
    assert 0.7 < float(model_row.split("|")[2]) <= 1.0  # its ROC-AUC on what happened next
    assert "| recency" in text  # next to the baselines
    assert "Backtest of models:/churnml@champion (version 1) at 2024-10-01" in out


@pytest.fixture(scope="module")
def scored(
    trained: str, data: dict[str, Path], env: dict[str, str], workdir: Path
) -> dict[str, Any]:
    """``churnml score`` with two pandas workers, published to a SQLite table."""
    output = workdir / "scores.parquet"
    url = f"sqlite:///{workdir / 'published.db'}"
    _run(
        [
            CHURNML,
            "score",
            *_inputs(data),
            "--as-of",
            AS_OF,
            "--output",
            str(output),
            "--workers",
            "2",
            "--publish",
            "--publish-url",
            url,
        ],
        env,
        workdir,
    )
    return {"output": output, "url": url}


def test_score_with_two_workers_writes_and_publishes_every_customer(
    scored: dict[str, Any], data: dict[str, Path]
) -> None:
    output, url = scored["output"], scored["url"]
    scores = pd.read_parquet(output)
    tx = pd.read_csv(data["transactions"], parse_dates=["order_date"])
    buyers = tx.loc[tx["order_date"] < AS_OF, "customer_id"].nunique()
    assert len(scores) == buyers and scores["customer_id"].is_unique
    assert scores["churn_probability"].between(0, 1).all()

    from churnml.scoring.publish import latest_score

    cid = str(scores["customer_id"].iloc[0])
    row = latest_score(cid, url=url)
    assert row is not None and row["churn_probability"] == pytest.approx(
        float(scores["churn_probability"].iloc[0])
    )


@pytest.mark.spark
def test_score_with_spark_matches_pandas(
    scored: dict[str, Any], data: dict[str, Path], env: dict[str, str], workdir: Path
) -> None:
    pytest.importorskip("pyspark")
    pandas_out, spark_out = scored["output"], workdir / "spark.parquet"
    common = [CHURNML, "score", *_inputs(data), "--as-of", AS_OF]
    _run(
        [*common, "--output", str(spark_out), "--engine", "spark", "--spark-master", "local[2]"],
        env,
        workdir,
    )
    by_pandas = pd.read_parquet(pandas_out).set_index("customer_id").sort_index()
    by_spark = pd.read_parquet(spark_out).set_index("customer_id").sort_index()
    assert list(by_spark.index) == list(by_pandas.index)
    pd.testing.assert_series_equal(
        by_spark["churn_probability"], by_pandas["churn_probability"], rtol=1e-9
    )
    assert (by_spark["next_best_action"] == by_pandas["next_best_action"]).all()


def test_contacts_are_the_best_over_all_customers_with_either_engine(
    scored: dict[str, Any], data: dict[str, Path], env: dict[str, str], workdir: Path
) -> None:
    """``--contacts N`` with two workers and with Spark: the N best planned contacts overall."""
    pytest.importorskip("pyspark")
    full = pd.read_parquet(scored["output"])  # the same model without a campaign size
    n = 40
    treated = full.loc[(full["intended_action"] != "no_action") & ~full["control_group"]]
    assert len(treated) > 2 * n  # the campaign size binds
    best = treated.sort_values(["intended_value", "customer_id"], ascending=[False, True]).head(n)
    common = [CHURNML, "score", *_inputs(data), "--as-of", AS_OF, "--contacts", str(n)]
    common += ["--model-uri", f"models:/churnml/{full['model_version'].iloc[0]}"]
    common += ["--chunk-customers", "1000"]  # 1,200 customers: two buckets
    outputs = {"pandas": workdir / "top-pandas.parquet", "spark": workdir / "top-spark.parquet"}
    _run([*common, "--output", str(outputs["pandas"]), "--workers", "2"], env, workdir)
    _run(
        [
            *common,
            "--output",
            str(outputs["spark"]),
            "--engine",
            "spark",
            "--spark-master",
            "local[2]",
        ],
        env,
        workdir,
    )
    for engine, path in outputs.items():
        got = pd.read_parquet(path).set_index("customer_id").sort_index()
        contacted = got.index[got["next_best_action"] != "no_action"]
        assert sorted(contacted) == sorted(best["customer_id"]), engine
        left_out = treated.loc[~treated["customer_id"].isin(contacted), "customer_id"]
        reasons = got.loc[left_out, "action_reason"]
        assert reasons.str.startswith("budget exhausted").all(), engine
        # Control customers keep their intended action only if it ranks among the N best.
        controls = got.loc[got["control_group"] & (got["intended_action"] != "no_action")]
        assert (controls["intended_value"] >= best["intended_value"].min()).all(), engine
        assert (
            got["churn_probability"]
            == full.set_index("customer_id").sort_index()["churn_probability"]
        ).all()


@pytest.fixture
def served(trained: str, env: dict[str, str], workdir: Path) -> Iterator[str]:
    """``churnml serve`` (the command itself) on a free loopback port, in its own process group."""
    port = free_port()
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CHURNML, "serve", "--port", str(port), "--workers", "1"],
            env={**env, "CHURNML_API_KEY": ""},
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        server.wait("/readyz", 200, timeout=180)
        yield server.url
    finally:
        server.stop()


def test_serve_starts_and_scores_a_customer(served: str) -> None:
    from churnml.serving.schemas import EXAMPLE_REQUEST

    r = httpx.post(served + "/score", json=EXAMPLE_REQUEST, timeout=60)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert 0.0 <= result["churn_probability"] <= 1.0
    assert httpx.get(served + "/model", timeout=10).json()["model_version"] == "1"


def test_demo_runs_the_main_job(workdir: Path, env: dict[str, str]) -> None:
    home = workdir / "demo-home"
    demo_env = {**env, "CHURNML_HOME": str(home)}
    demo_env.pop("MLFLOW_TRACKING_URI")  # the embedded store, as a newcomer gets it
    out = _run([CHURNML, "demo", "--customers", "800"], demo_env, workdir)
    assert (home / "mlflow.db").exists()
    scores = pd.read_parquet(home / "demo" / "scores.parquet")
    assert len(scores) > 500
    for shown in ("churn", "champion", "segment"):
        assert shown in out.lower(), shown
