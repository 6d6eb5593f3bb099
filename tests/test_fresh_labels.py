"""The churn procedure: backtest, then refit on the freshest labels; short histories; refusal.

Judged on data whose future is known: the simulator continues a year past ``as_of``,
and CDNOW master runs to 1998-06-30. Every model sees only the history before
``as_of``; the judge is what the customers at ``as_of`` did in the window after it.
The naive LightGBM (RFM + event counts at the single cut-off ``as_of - window``) is
the yardstick the issue names; ``benchmarks/study_fresh_labels.py`` prints the same
comparison over more seeds (docs/benchmarks.md, *Fresh labels*).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnml.config import Config
from churnml.data.contract import InputTables, validate_tables
from churnml.datasets import load_cdnow, simulate
from churnml.datasets.simulator import SimulationParams
from churnml.evaluation.metrics import expected_calibration_error
from churnml.evaluation.naive import naive_lightgbm_proba
from churnml.models.crossfit import cross_fit, customer_folds
from churnml.models.procedure import ChurnFit, fit_churn
from churnml.models.sufficiency import InsufficientHistoryError, check_history
from churnml.models.training_data import cutoff_rows

AS_OF = pd.Timestamp("2025-01-01")


def _config(window: int, as_of: pd.Timestamp = AS_OF) -> Config:
    return Config.from_dict(
        {"time": {"as_of": str(as_of.date()), "churn_window_days": window}, "churn": {"n_jobs": 1}}
    )


def _fit(history: InputTables, as_of: pd.Timestamp, window: int) -> ChurnFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BG/NBD retries at early cut-offs
        return fit_churn(history, as_of, _config(window, as_of))


SCENARIOS = {
    "default": {},
    "strong": {"params": SimulationParams.strong_behaviour_signal()},
    "no_behaviour": {"behaviour_signal": False},
}


@cache
def _judged(scenario: str, seed: int, window: int, months: int) -> dict[str, float]:
    """AUC/ECE of the shipped model, the backtest's model and the naive one on the future."""
    start = (AS_OF - pd.DateOffset(months=months)).date()
    sim = simulate(20_000, seed=seed, start=start, **SCENARIOS[scenario])  # type: ignore[arg-type]
    past = sim.history()
    history = validate_tables(past.transactions, sim.customers, past.events, past.campaigns)
    full = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    fit = _fit(history, AS_OF, window)
    cfg = _config(window)
    truth = cutoff_rows(full, AS_OF, cfg.ltv, cfg.time.horizon_days, window)
    y = truth.labels.to_numpy()
    shipped = fit.shipped.predict_proba(truth.inputs)
    assert fit.backtest_model is not None
    naive = naive_lightgbm_proba(full, truth.inputs, y, AS_OF, window)
    return {
        "shipped": roc_auc_score(y, shipped),
        "ece": expected_calibration_error(y, shipped),
        "backtest_model": roc_auc_score(y, fit.backtest_model.predict_proba(truth.inputs)),
        "naive": roc_auc_score(y, naive),
        "recency": roc_auc_score(y, truth.inputs["recency_days"]),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scenario", ["default", "strong"])
def test_with_behaviour_signal_the_model_beats_the_naive_lightgbm_and_is_calibrated(
    scenario: str, seed: int
) -> None:
    m = _judged(scenario, seed, 90, 24)
    assert m["shipped"] >= m["naive"] + 0.01, m
    assert m["ece"] < 0.02, m
    assert m["naive"] > m["recency"], m  # the yardstick itself is a fair one


@pytest.mark.parametrize("seed", [0, 1])
def test_where_rfm_is_all_there_is_the_model_is_not_worse_than_the_naive_one(seed: int) -> None:
    # Dropout independent of behaviour: the naive model on RFM has all the signal.
    m = _judged("no_behaviour", seed, 90, 24)
    assert m["shipped"] >= m["naive"] - 0.003, m
    assert m["ece"] < 0.02, m


@pytest.mark.parametrize("seed", [0, 1])
def test_with_a_long_window_over_a_short_history_the_fresh_labels_win(seed: int) -> None:
    """The issue's setting: 18 months of history and a 182-day window.

    The model of the old procedure learns only from windows ending a year before
    ``as_of``; the refitted one from windows ending by ``as_of``.
    """
    m = _judged("default", seed, 182, 18)
    assert m["shipped"] >= m["backtest_model"] + 0.02, m
    assert m["shipped"] >= m["naive"] + 0.01, m


# -- which rows each model saw ------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> tuple[InputTables, ChurnFit]:
    sim = simulate(3000, seed=5)
    history = sim.history()
    tables = validate_tables(history.transactions, sim.customers, history.events, history.campaigns)
    return tables, _fit(tables, AS_OF, 90)


def test_the_shipped_model_learns_from_the_newest_labels(small) -> None:  # type: ignore[no-untyped-def]
    _, fit = small
    window = pd.Timedelta(days=90)
    eval_cutoff = AS_OF - window
    seen = fit.rows_seen()
    assert fit.check.mode == "backtest" and fit.rows.cutoff == eval_cutoff
    shipped = pd.DatetimeIndex(seen.index[seen["shipped_model"]])
    backtest = pd.DatetimeIndex(seen.index[seen["backtest_model"]])
    # The shipped model's newest cut-off is as_of - window: labels up to as_of.
    assert shipped.max() == eval_cutoff
    assert (shipped + window <= AS_OF).all()
    # Its early stopping and calibration use the newest cut-off too.
    assert fit.shipped.validation_["split"]["held_out_cutoffs"] == [str(eval_cutoff.date())]
    # The backtest's labels all end by the evaluation cut-off.
    assert len(backtest) and (backtest + window <= eval_cutoff).all()
    assert seen.loc[seen["evaluation"], "shipped_model"].all()
    summary = fit.summary()
    assert summary["churn.shipped.rows"] == seen.loc[seen["shipped_model"], "rows"].sum()
    assert summary["churn.evaluation.cutoff"] == str(eval_cutoff.date())


def test_the_backtest_never_sees_the_evaluation_labels(small) -> None:  # type: ignore[no-untyped-def]
    """Delete half of the customers' purchases in the evaluation window: the backtest's
    probabilities do not move by a bit, the shipped model (which learns them) changes."""
    tables, fit = small
    eval_cutoff = fit.rows.cutoff
    tx = tables.transactions
    ids = tx["customer_id"].unique()
    gone = set(ids[customer_folds(ids, 2) == 0])
    drop = (tx["order_date"] >= eval_cutoff) & tx["customer_id"].isin(gone)
    assert drop.sum() > 100
    changed = validate_tables(tx.loc[~drop], tables.customers, tables.events, tables.campaigns)
    refit = _fit(changed, AS_OF, 90)
    assert not refit.rows.labels.equals(fit.rows.labels)
    np.testing.assert_array_equal(refit.backtest_proba, fit.backtest_proba)
    probe = fit.rows.inputs
    assert not np.allclose(refit.shipped.predict_proba(probe), fit.shipped.predict_proba(probe))


# -- short histories ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow() -> InputTables:
    return validate_tables(load_cdnow("master"))


def _before(tables: InputTables, day: pd.Timestamp) -> InputTables:
    tx = tables.transactions
    return validate_tables(tx.loc[tx["order_date"] < day])


def test_cross_fitting_scores_each_customer_with_a_model_that_never_saw_them() -> None:
    train_ids = np.array([f"c{i % 50}" for i in range(400)])  # 8 rows per customer
    score_ids = np.array([f"c{i}" for i in range(50)])
    seen_by_fold: list[set[str]] = []

    def fit_predict(train: np.ndarray, score: np.ndarray) -> np.ndarray:
        trained = set(train_ids[train])
        assert not trained & set(score_ids[score])
        seen_by_fold.append(trained)
        return np.full(score.sum(), len(seen_by_fold), dtype=float)

    out = cross_fit(train_ids, score_ids, fit_predict, n_folds=5)
    assert len(seen_by_fold) == 5 and np.isfinite(out).all()
    # Every customer is trained on by all folds but its own.
    assert all(sum(c in s for s in seen_by_fold) == 4 for c in score_ids)


def test_a_short_history_trains_on_the_one_window_and_cross_fits_its_evaluation(cdnow) -> None:  # type: ignore[no-untyped-def]
    """CDNOW at 1997-07-01 with a 91-day window: 181 days of history, one labelled
    window (1997-04-01 .. 07-01), none before it."""
    as_of = pd.Timestamp("1997-07-01")
    fit = _fit(_before(cdnow, as_of), as_of, 91)
    assert fit.check.mode == "cross_fitted" and fit.backtest_model is None
    assert any("short history" in w and "cross-fitted" in w for w in fit.check.warnings)
    assert fit.summary()["churn.shipped.cutoffs"] == "1997-04-01"
    assert np.isfinite(fit.backtest_proba).all()
    estimate = roc_auc_score(fit.rows.labels, fit.backtest_proba)
    # The judge: the next 91 days, which the run never saw.
    cfg = _config(91, as_of)
    truth = cutoff_rows(cdnow, as_of, cfg.ltv, cfg.time.horizon_days, 91)
    y = truth.labels.to_numpy()
    actual = roc_auc_score(y, fit.shipped.predict_proba(truth.inputs))
    assert actual > roc_auc_score(y, truth.inputs["recency_days"])
    assert 0.6 < estimate < actual + 0.01  # honest: never more optimistic than the future


def test_a_window_longer_than_the_history_is_refused_with_what_would_work(cdnow) -> None:  # type: ignore[no-untyped-def]
    as_of = pd.Timestamp("1997-10-01")
    with pytest.raises(InsufficientHistoryError) as caught:
        check_history(_before(cdnow, as_of), as_of, _config(273, as_of).time)
    message = str(caught.value)
    for needed in (
        "273-day churn window",
        "90 days of history",
        "363 days of data before as_of",
        "1997-01-01 to 1997-09-30",
        "273 days before as_of",
        "longest churn window that works at this as_of is 183 days",
        "--churn-window-days 183",
        "on or after 1997-12-30",
    ):
        assert needed in message, (needed, message)
    # ... and the window it names does work.
    assert check_history(_before(cdnow, as_of), as_of, _config(183, as_of).time).shipped_cutoffs


def test_the_data_checks_refuse_with_numbers(cdnow) -> None:  # type: ignore[no-untyped-def]
    as_of = pd.Timestamp("1997-10-01")
    tx = cdnow.transactions.loc[cdnow.transactions["order_date"] < as_of]
    once = validate_tables(tx.drop_duplicates("customer_id"))
    with pytest.raises(
        InsufficientHistoryError, match="none of the 23,570 customers bought on two"
    ):
        check_history(once, as_of, _config(91, as_of).time)
    # Nobody bought in the newest window: every freshest label would be "churned".
    stale = validate_tables(tx.loc[tx["order_date"] < as_of - pd.Timedelta(days=91)])
    with pytest.raises(InsufficientHistoryError, match="every label of the newest 91-day window"):
        check_history(stale, as_of, _config(91, as_of).time)
