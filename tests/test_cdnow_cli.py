"""CDNOW master through the command line, judged by the 91 days that followed.

``churnml train --as-of 1997-10-01 --churn-window-days 91`` on the whole file (which
runs to 1998-06-30: the pipeline reads nothing on or after ``as_of``), ``churnml
score`` at 1997-10-01, then the test computes, on its own, each customer's label in
[1997-10-01, 1997-12-31): the scored churn probability must rank those customers
better than recency and than the naive LightGBM trained at 1997-07-02.
``churnml evaluate`` reports the same comparison; a 273-day window is refused with
what would work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnml.config import LTVConfig
from churnml.data.contract import validate_tables
from churnml.datasets import load_cdnow
from churnml.evaluation.naive import naive_lightgbm_proba
from churnml.models.training_data import cutoff_rows

CHURNML = str(Path(sys.executable).with_name("churnml"))
AS_OF = pd.Timestamp("1997-10-01")
WINDOW = 91


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cdnow-cli")
    load_cdnow("master").to_csv(path / "cdnow.csv", index=False)
    return path


def _churnml(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "CHURNML_HOME": str(workdir / "home"),
    }
    return subprocess.run(
        [CHURNML, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def trained(workdir: Path) -> str:
    done = _churnml(
        workdir,
        "train",
        "--transactions",
        "cdnow.csv",
        "--as-of",
        str(AS_OF.date()),
        "--churn-window-days",
        str(WINDOW),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_91_day_model_beats_recency_and_the_naive_lightgbm_on_what_happened(
    trained: str, workdir: Path
) -> None:
    assert "naive LightGBM" in trained and "Prediction quality" in trained
    assert "refitted on" in trained
    done = _churnml(
        workdir,
        "score",
        "--transactions",
        "cdnow.csv",
        "--as-of",
        str(AS_OF.date()),
        "--output",
        "scores.parquet",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_parquet(workdir / "scores.parquet").set_index("customer_id")
    full = validate_tables(load_cdnow("master"))
    truth = cutoff_rows(full, AS_OF, LTVConfig(), 365, WINDOW)
    y = truth.labels.to_numpy()
    assert len(scores) == len(y) == 23_570
    proba = scores["churn_probability"].reindex(truth.inputs.index.astype(str)).to_numpy()
    model = roc_auc_score(y, proba)
    recency = roc_auc_score(y, truth.inputs["recency_days"])
    naive = roc_auc_score(y, naive_lightgbm_proba(full, truth.inputs, y, AS_OF, WINDOW))
    assert model > recency + 0.005 and model > naive + 0.005, (model, recency, naive)


def test_evaluate_shows_the_naive_baseline_and_the_quality_report(
    trained: str, workdir: Path
) -> None:
    done = _churnml(
        workdir,
        "evaluate",
        "--transactions",
        "cdnow.csv",
        "--as-of",
        str(AS_OF.date()),
        "--report",
        "backtest.md",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = (workdir / "backtest.md").read_text()
    rows = {
        line.split("|")[1].strip(): float(line.split("|")[2])
        for line in text.splitlines()
        if line.startswith("| ") and line.split("|")[2].strip()[:1].isdigit()
    }
    model = rows["churn model"]
    assert model > rows["recency (days)"] and model > rows["naive LightGBM (RFM + event counts)"]
    assert "Actual vs predicted churn rate per score decile" in text
    assert "Prediction quality" in done.stdout
    plots = {p.name for p in (workdir / "backtest_plots").iterdir()}
    assert {"deciles.png", "lift.png", "score_histogram.png", "calibration.png"} <= plots


def test_a_273_day_window_is_refused_with_what_would_work(workdir: Path) -> None:
    done = _churnml(
        workdir,
        "train",
        "--transactions",
        "cdnow.csv",
        "--as-of",
        str(AS_OF.date()),
        "--churn-window-days",
        "273",
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())  # rich wraps long lines
    assert "not enough history for a 273-day churn window" in message
    assert "The data run from 1997-01-01 to 1997-09-30" in message
    assert "--churn-window-days 183" in message
