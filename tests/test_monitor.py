"""churnml monitor: reference statistics, drift by PSI, matured labels, exit codes.

The session's trained model (``trained_model``: 1,500 simulated customers, seed 42,
as of 2025-01-01) is monitored on its own training tables, regenerated here with the
same simulator call, and on copies with known changes.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import chi2_contingency
from sklearn.metrics import roc_auc_score

from churnml.config import MonitorConfig
from churnml.data import validate_tables
from churnml.datasets import simulate
from churnml.errors import DataValidationError
from churnml.features import build_features
from churnml.monitoring.check import run_monitor
from churnml.monitoring.drift import chi_square, psi
from churnml.monitoring.reference import Binned, ReferenceStats
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import Scorer
from churnml.tracking import configure_mlflow
from churnml.tracking.pyfunc import log_bundle
from cli_runner import run_churnml

AS_OF = "2025-01-01"
#: Scores at this date have matured labels at AS_OF (window: 90 days).
EARLY = "2024-10-03"
TABLES = ("transactions", "customers", "events", "campaigns")


@pytest.fixture(scope="module")
def sim(trained_model: Any) -> Any:
    """The tables the model was trained on (same simulator, size and seed)."""
    config = trained_model.bundle.config
    return simulate(config.data.simulate_customers, seed=config.seed)


@pytest.fixture(scope="module")
def files(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return dict(sim.write(tmp_path_factory.mktemp("monitor-data")))


def _monitor(trained_model: Any, *args: str) -> subprocess.CompletedProcess[str]:
    model = f"models:/{trained_model.model_name}/{trained_model.version}"
    return run_churnml(
        "monitor", "--model-uri", model, *args,
        env={"MLFLOW_TRACKING_URI": trained_model.tracking_uri},
    )  # fmt: skip


def _table_args(paths: dict[str, Path]) -> list[str]:
    return [a for t in TABLES if t in paths for a in (f"--{t}", str(paths[t]))]


def _summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


# ---------------------------------------------------------------- units


def test_psi_equals_the_hand_computation() -> None:
    # 0.25 * ln(0.25 / 0.5) * -1 + 0.25 * ln(0.75 / 0.5) = 0.25 * (ln 2 + ln 1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        0.25 * (math.log(2) + math.log(1.5)), rel=1e-12
    )
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0
    # An empty bin counts as the floor share, not as zero (finite, large).
    assert psi(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(
        0.5 * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5), rel=1e-12
    )


def test_chi_square_is_the_homogeneity_test_of_the_two_count_rows() -> None:
    stat, p = chi_square((30, 50, 20, 0), (45, 40, 15, 0))
    expected = chi2_contingency(np.array([[30, 50, 20], [45, 40, 15]]), correction=False)
    assert stat == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert chi_square((10, 0), (5, 0)) == (0.0, 1.0)


def test_bins_keep_point_masses_constants_and_missing_values_apart() -> None:
    mostly_zero = np.r_[np.zeros(80), np.arange(1.0, 21.0)]
    b = Binned.from_values(mostly_zero, n_bins=10)
    assert b.edges[0] == 0.0 and b.counts[0] == 80  # the zeros: one bin of their own
    assert b.rows == 100 and b.counts[-1] == 0

    constant = Binned.from_values(np.full(50, 3.0))
    assert constant.edges == (3.0,) and constant.counts == (50, 0, 0)
    assert constant.count(np.array([3.0, 4.0, np.nan])) == (1, 1, 1)

    with_nan = Binned.from_values(np.r_[np.arange(10.0), [np.nan] * 5], n_bins=5)
    assert with_nan.counts[-1] == 5 and with_nan.proportions[-1] == pytest.approx(1 / 3)
    assert len(with_nan.counts) == len(with_nan.edges) + 2

    ref = ReferenceStats.from_columns(
        "2025-01-01", {"x": mostly_zero}, {"churn_probability": mostly_zero / 20}, 0.7
    )
    assert ReferenceStats.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


# ---------------------------------------------------------------- reference in the bundle


def test_training_saves_the_reference_of_the_shipped_models_inputs(
    trained_model: Any, sim: Any, tmp_path: Path
) -> None:
    bundle = trained_model.bundle
    ref = bundle.reference
    assert ref is not None and ref.as_of == AS_OF
    assert list(ref.features) == list(bundle.churn.feature_names_)
    assert set(ref.scores) == {"churn_probability", "clv"}
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    assert ref.rows == len(build_features(tables, AS_OF))
    assert ref.backtest_auc == pytest.approx(trained_model.metrics["churn_roc_auc"])
    assert all(b.rows == ref.rows for b in (*ref.features.values(), *ref.scores.values()))

    saved = bundle.save(tmp_path / "bundle")
    assert ModelBundle.load(saved).reference == ref
    (saved / "reference.json").unlink()  # a bundle made before monitoring still loads
    assert ModelBundle.load(saved).reference is None


# ---------------------------------------------------------------- drift (command line)


def test_the_training_data_itself_does_not_drift_and_is_logged(
    trained_model: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    done = _monitor(trained_model, *_table_args(files), "--as-of", AS_OF, "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout
    drift = pd.read_csv(tmp_path / "drift.csv")
    assert len(drift) == len(trained_model.bundle.churn.feature_names_) + 2
    assert drift["psi"].max() == pytest.approx(0.0, abs=1e-9)
    assert set(drift["status"]) == {"ok"}
    assert (tmp_path / "monitor.png").stat().st_size > 10_000
    assert not (tmp_path / "outcomes.csv").exists()

    configure_mlflow(trained_model.tracking_uri)
    runs = mlflow.search_runs(experiment_names=["churnml-monitor"], output_format="list")
    assert runs, "no run in churnml-monitor"
    run = MlflowClient().get_run(runs[0].info.run_id)
    assert run.data.metrics["columns_moved"] == 0.0
    assert run.data.metrics["psi_recency_days"] == pytest.approx(0.0, abs=1e-9)
    assert run.data.params["model_version"] == str(trained_model.version)
    assert {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "monitor")} >= {
        "monitor/drift.csv",
        "monitor/monitor.png",
        "monitor/summary.json",
    }


def test_fewer_recent_orders_exit_3_and_name_frequency_and_recency(
    trained_model: Any, sim: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    tx = sim.transactions
    recent = (tx["order_date"] >= pd.Timestamp("2024-09-01")) & (
        tx["order_date"] < pd.Timestamp(AS_OF)
    )
    drop = recent & (np.random.default_rng(0).random(len(tx)) < 0.8)
    tx.loc[~drop].to_csv(tmp_path / "transactions.csv", index=False)
    paths = {**files, "transactions": tmp_path / "transactions.csv"}
    out = tmp_path / "out"
    done = _monitor(
        trained_model, *_table_args(paths), "--as-of", AS_OF, "--out", str(out), "--no-log-mlflow"
    )
    assert done.returncode == 3, done.stdout + done.stderr
    summary = _summary(out)
    moved = summary["moved"]
    assert {"orders_90d", "recency_days"} <= set(moved)
    assert "orders_90d" in done.stdout.split("columns moved")[1]
    # The score follows its inputs; the channel mix of the remaining orders does not move.
    assert "churn_probability" in moved + summary["warned"]
    assert not any(c.startswith("share_") for c in moved + summary["warned"])


def test_losing_one_event_type_exit_3_and_names_its_features(
    trained_model: Any, sim: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    events = sim.events
    assert (events["event_type"] == "email_open").sum() > 1000
    events[events["event_type"] != "email_open"].to_csv(tmp_path / "events.csv", index=False)
    paths = {**files, "events": tmp_path / "events.csv"}
    out = tmp_path / "out"
    done = _monitor(
        trained_model, *_table_args(paths), "--as-of", AS_OF, "--out", str(out), "--no-log-mlflow"
    )
    assert done.returncode == 3, done.stdout + done.stderr
    moved = set(_summary(out)["moved"])
    assert {"email_open_90d", "days_since_email_open"} <= moved
    assert not any(c.startswith(("orders_", "recency")) for c in moved)
    assert "days_since_email_open" in done.stdout


def test_thresholds_come_from_the_command_line(
    trained_model: Any, sim: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    events = sim.events
    events[events["event_type"] != "email_open"].to_csv(tmp_path / "events.csv", index=False)
    paths = {**files, "events": tmp_path / "events.csv"}
    done = _monitor(
        trained_model, *_table_args(paths), "--as-of", AS_OF, "--psi-alert", "100",
        "--psi-warn", "0.1", "--no-log-mlflow",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "watch" in done.stdout and "days_since_email_open" in done.stdout
    done = _monitor(trained_model, *_table_args(files), "--min-rows", "100000", "--no-log-mlflow")
    assert done.returncode == 2 and "min_rows" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- matured labels


def test_matured_auc_is_roc_auc_of_the_same_files(
    trained_model: Any, sim: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    scores_path = tmp_path / "scores.csv"
    Scorer(trained_model.bundle).score(tables, EARLY).to_csv(scores_path, index=False)
    out = tmp_path / "out"
    done = _monitor(
        trained_model, *_table_args(files), "--as-of", AS_OF, "--scores", str(scores_path),
        "--out", str(out), "--no-log-mlflow",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    scores = pd.read_csv(scores_path, dtype={"customer_id": str})
    tx = pd.read_csv(files["transactions"], dtype={"customer_id": str})
    day = pd.to_datetime(tx["order_date"]).dt.normalize()
    window = (day >= pd.Timestamp(EARLY)) & (day < pd.Timestamp(AS_OF)) & (tx["amount"] >= 0)
    bought = set(tx.loc[window, "customer_id"])
    churned = (~scores["customer_id"].isin(bought)).astype(int)
    expected = roc_auc_score(churned, scores["churn_probability"])

    metrics = _summary(out)["metrics"]
    assert metrics["outcome_auc"] == pytest.approx(expected, abs=1e-12)
    assert metrics["outcome_customers"] == len(scores)
    assert metrics["outcome_churn_rate"] == pytest.approx(churned.mean(), abs=1e-12)
    assert 0.0 < metrics["outcome_clv_spearman"] <= 1.0
    deciles = pd.read_csv(out / "outcomes.csv")
    assert len(deciles) == 10 and deciles["customers"].sum() == len(scores)
    assert f"AUC {expected:.4f}" in done.stdout


def test_immature_labels_are_skipped_and_a_drop_in_auc_is_decay(
    trained_model: Any, sim: Any
) -> None:
    bundle = trained_model.bundle
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    late = Scorer(bundle).score(tables, "2024-12-01")
    result = run_monitor(bundle, tables, AS_OF, scores=late)
    assert result.outcomes is not None and not result.outcomes.matured
    assert "not matured until 2025-03-01" in " ".join(result.messages())
    assert result.exit_code == 0

    early = Scorer(bundle).score(tables, EARLY)
    shuffled = early.assign(
        churn_probability=np.random.default_rng(1).permutation(early["churn_probability"])
    )
    cfg = MonitorConfig(max_auc_drop=0.05)
    result = run_monitor(bundle, tables, AS_OF, config=cfg, scores=shuffled)
    assert result.outcomes is not None and result.outcomes.matured
    assert result.outcomes.auc < 0.6 and result.decayed and result.exit_code == 3
    assert not result.drift.moved  # the batch itself did not move: decay alone gives 3

    mixed = pd.concat([early.head(10), late.head(10)])
    with pytest.raises(DataValidationError, match="expected one scoring date"):
        run_monitor(bundle, tables, AS_OF, scores=mixed)


# ---------------------------------------------------------------- old bundles


def test_a_bundle_without_reference_says_to_retrain(
    trained_model: Any, files: dict[str, Path]
) -> None:
    configure_mlflow(trained_model.tracking_uri, "monitor-tests")
    old = replace(trained_model.bundle, reference=None)
    example = pd.read_csv(files["transactions"], dtype={"customer_id": str}).head(5)
    with mlflow.start_run():
        info = log_bundle(old, example[["customer_id", "order_date", "amount", "channel"]])
    done = run_churnml(
        "monitor", "--model-uri", info.model_uri, *_table_args(files), "--as-of", AS_OF,
        "--no-log-mlflow", env={"MLFLOW_TRACKING_URI": trained_model.tracking_uri},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no reference statistics" in done.stderr and "churnml train" in done.stderr
    assert "Traceback" not in done.stderr
