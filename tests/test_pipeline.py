"""Training pipeline end to end: runs, registry aliases, promotion rule, reload in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnml.config import Config
from churnml.data import validate_tables
from churnml.datasets import simulate
from churnml.evaluation.churn_report import evaluate_churn
from churnml.models.churn import ChurnModel
from churnml.models.procedure import backtest_proba, fit_churn
from churnml.pipeline import train
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer
from churnml.tracking.pyfunc import load_bundle
from cli_runner import run_churnml

AS_OF = "2025-01-01"


def _tables(seed: int, n: int = 1200):  # type: ignore[no-untyped-def]
    sim = simulate(n, seed=seed)
    return validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)


def _config(uri: str, **churn: object) -> Config:
    return Config.from_dict(
        {"time": {"as_of": AS_OF}, "tracking": {"tracking_uri": uri}, "churn": churn}
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


WEAK = {"n_estimators": 1, "num_leaves": 2, "early_stopping_rounds": 1}


@pytest.fixture(scope="module")
def runs(store: str):  # type: ignore[no-untyped-def]
    """Three trainings: a deliberately weak model on data A (the first champion), a normal
    model on data B (a better challenger), then the weak model again on data B."""
    first = train(_config(store, **WEAK), tables=_tables(1), show_progress=False)
    tables_b = _tables(2)
    second = train(_config(store), tables=tables_b, show_progress=False)
    weak = train(_config(store, **WEAK), tables=tables_b, show_progress=False)
    return first, second, weak, tables_b


def test_each_training_is_a_run_with_params_fingerprint_metrics_and_artifacts(runs, store) -> None:  # type: ignore[no-untyped-def]
    client = MlflowClient(store, registry_uri=store)
    first, second, *_ = runs
    for result in (first, second):
        run = client.get_run(result.run_id)
        params = run.data.params
        assert params["time.churn_window_days"] == "90"
        assert params["data.transactions.sha256"] and params["data.transactions.rows"]
        for baseline in ("recency", "bgnbd_p_no_purchase", "bgnbd_expected_purchases"):
            assert f"baseline_{baseline}_roc_auc" in run.data.metrics
        assert "ltv_clv_normalised_gini" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
        assert "evaluation/report.md" in artifacts
        pngs = {a.path for a in client.list_artifacts(result.run_id, "evaluation/churn")}
        assert {"evaluation/churn/calibration.png", "evaluation/churn/gains.png"} <= pngs
        assert {"evaluation/churn/deciles.png", "evaluation/churn/lift.png"} <= pngs
        assert {"evaluation/quality_deciles.csv", "evaluation/training_rows.csv"} <= artifacts
        assert "baseline_naive_lightgbm_roc_auc" in run.data.metrics
        assert run.data.tags["quality_grade"] in ("excellent", "good", "fair", "weak")
        # Which rows each model saw: the shipped model's newest cut-off is the evaluation one.
        assert params["churn.evaluation_mode"] == "backtest"
        shipped = params["churn.shipped.cutoffs"].split(",")
        assert shipped[-1] == params["churn.evaluation.cutoff"] == str(result.eval_cutoff.date())
        assert max(params["churn.backtest.cutoffs"].split(",")) < shipped[-1]
        ltv_pngs = {a.path for a in client.list_artifacts(result.run_id, "evaluation/ltv")}
        assert "evaluation/ltv/p_alive_matrix.png" in ltv_pngs
    assert client.get_run(second.run_id).data.metrics["churn_roc_auc"] > 0.75
    # Different data give different fingerprints.
    p1 = client.get_run(first.run_id).data.params["data.transactions.sha256"]
    p2 = client.get_run(second.run_id).data.params["data.transactions.sha256"]
    assert p1 != p2


def test_versions_and_aliases_follow_the_promotion_rule(runs, store) -> None:  # type: ignore[no-untyped-def]
    first, second, weak, tables_b = runs
    client = MlflowClient(store, registry_uri=store)
    assert (first.version, second.version, weak.version) == ("1", "2", "3")
    assert first.decision.promote and first.decision.reason == "no champion yet"
    # The decision about version 2 compares both procedures on version 2's evaluation rows.
    # Version 1 was refitted on labels up to AS_OF, which cover those rows' labels, so its
    # shipped model would be judged on labels it trained on: its settings are backtested
    # on version 2's backtest rows instead, like the challenger's.
    mlflow.set_tracking_uri(store)
    v1 = load_bundle("models:/churnml/1")
    assert pd.Timestamp(v1.as_of) > second.eval_cutoff
    fit = fit_churn(tables_b, pd.Timestamp(AS_OF), _config(store))
    assert fit.rows.cutoff == second.eval_cutoff

    def v1_settings() -> ChurnModel:
        return ChurnModel.from_config(v1.config.churn, random_state=v1.config.seed)

    proba, _ = backtest_proba(v1_settings, fit.training, fit.check, fit.rows)
    v1_auc = evaluate_churn(fit.rows.labels.to_numpy(), proba, fit.rows.inputs)
    assert second.decision.champion_value == pytest.approx(
        v1_auc.metrics["churn_roc_auc"], abs=1e-12
    )
    # The normal model beats the one-split champion: the better challenger is promoted.
    assert second.metrics["churn_roc_auc"] > v1_auc.metrics["churn_roc_auc"]
    assert second.decision.promote and "beats champion v1" in second.decision.reason
    tags = client.get_run(second.run_id).data.tags
    assert tags["champion_comparison"] == "champion's settings backtested on this run's rows"
    # A one-split model never beats the champion: it stays challenger and says why.
    assert not weak.decision.promote
    assert "does not beat" in weak.decision.reason
    champion = str(client.get_model_version_by_alias("churnml", "champion").version)
    assert champion == "2"
    assert str(client.get_model_version_by_alias("churnml", "challenger").version) == "3"
    tags = client.get_run(weak.run_id).data.tags
    assert tags["promoted"] == "False" and "does not beat" in tags["promotion_reason"]


def test_promote_command_moves_the_champion_by_hand(runs, store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"MLFLOW_TRACKING_URI": store}
    done = run_churnml("promote", "3", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "version 3" in done.stdout
    assert (
        str(
            MlflowClient(store, registry_uri=store)
            .get_model_version_by_alias("churnml", "champion")
            .version
        )
        == "3"
    )
    missing = run_churnml("promote", "99", env=env, timeout=120)
    assert missing.returncode == 1
    assert "no version 99" in missing.stderr and "Traceback" not in missing.stderr


def test_champion_loaded_in_a_fresh_process_scores_like_the_in_memory_model(
    runs, store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    *_, weak, tables_b = runs
    in_memory = Scorer(weak.bundle).score(tables_b, AS_OF)
    tx_path = tmp_path / "tx.parquet"
    tables_b.transactions.to_parquet(tx_path)
    out = tmp_path / "scores.parquet"
    code = (
        "import sys, mlflow, pandas as pd\n"
        "from churnml.data import validate_tables\n"
        "from churnml.scoring.scorer import Scorer\n"
        "from churnml.tracking.pyfunc import load_bundle\n"
        f"mlflow.set_tracking_uri({store!r})\n"
        "b = load_bundle('models:/churnml@champion')\n"
        f"t = validate_tables(pd.read_parquet({str(tx_path)!r}))\n"
        f"Scorer(b).score(t, {AS_OF!r}).to_parquet({str(out)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    fresh = pd.read_parquet(out)
    # Only transactions were given to the fresh process: compare with the same input.
    expected = Scorer(weak.bundle).score(validate_tables(tables_b.transactions), AS_OF)
    assert list(fresh.columns) == list(OUTPUT_COLUMNS)
    assert (fresh["model_version"] == "3").all()
    pd.testing.assert_frame_equal(
        fresh.drop(columns=["model_version"]),
        expected.drop(columns=["model_version"]),
        check_exact=False,
        rtol=1e-12,
    )
    assert len(in_memory) == len(fresh)


def test_pyfunc_predict_scores_transactions_with_an_as_of_param(runs, store) -> None:  # type: ignore[no-untyped-def]
    *_, tables_b = runs
    mlflow.set_tracking_uri(store)
    model = mlflow.pyfunc.load_model("models:/churnml/2")
    tx = tables_b.transactions.head(200).copy()
    tx["order_date"] = tx["order_date"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    scored = model.predict(
        tx[["customer_id", "order_date", "amount", "channel"]], params={"as_of": AS_OF}
    )
    assert set(scored["customer_id"]) == set(tx["customer_id"])
    assert scored["churn_probability"].between(0, 1).all()
    reasons = json.loads(scored["churn_reasons"].iloc[0])
    assert reasons and {"feature", "contribution", "description"} <= set(reasons[0])
    assert np.isfinite(scored["clv"]).all()
