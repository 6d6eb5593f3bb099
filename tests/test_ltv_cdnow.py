"""LTVModel on the CDNOW sample against the published figures.

Sources of truth (figures quoted in /work/shared/data/README.md):

- Fader, Hardie & Lee (2005), "Counting your customers" the easy way, Marketing
  Science 24(2): BG/NBD parameters and log-likelihood, conditional expectations
  by calibration frequency (Figure 4), cumulative tracking (Figure 2), the
  correlation of conditional expectations with holdout transactions.
- Fader & Hardie (2013), The Gamma-Gamma model of monetary value (note 025):
  Gamma-Gamma parameters, log-likelihood and mean spend.
- lifetimes 0.11.3, the reference implementation, for the per-customer formulas.

Calibration: weeks 1-39 (1997-01-01..1997-09-30), holdout weeks 40-78, time unit
weeks, purchases counted per day.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.datasets import CDNOW_CALIBRATION_END, CDNOW_END, load_cdnow
from churnml.evaluation.ltv_diagnostics import (
    build_holdout_frame,
    conditional_expectations_by_frequency,
    cumulative_tracking,
    holdout_actuals,
    holdout_metrics,
    write_ltv_diagnostics,
)
from churnml.models.ltv import LTVModel, discounted_expected_purchases
from churnml.models.ltv_fitting import fitter_classes

HOLDOUT_DAYS = (CDNOW_END - CDNOW_CALIBRATION_END).days  # 273 = 39 weeks

# Fader, Hardie & Lee (2005), Figure 4: mean holdout transactions by calibration frequency 0..7+.
FHL_BINS = [1411, 439, 214, 100, 62, 38, 29, 64]
FHL_ACTUAL = [0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359]
FHL_BGNBD = [0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157]


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return load_cdnow("sample")


@pytest.fixture(scope="module")
def model_and_rfm(transactions: pd.DataFrame) -> tuple[LTVModel, pd.DataFrame]:
    model = LTVModel(time_unit="W")
    rfm = model.summarise(transactions, CDNOW_CALIBRATION_END)
    return model.fit(rfm), rfm


@pytest.fixture(scope="module")
def holdout(
    transactions: pd.DataFrame, model_and_rfm: tuple[LTVModel, pd.DataFrame]
) -> pd.DataFrame:
    model, rfm = model_and_rfm
    predictions = model.predict(rfm, horizon_days=HOLDOUT_DAYS)
    actuals = holdout_actuals(transactions, rfm.index, CDNOW_CALIBRATION_END, CDNOW_END)
    return build_holdout_frame(rfm, predictions, actuals)


def test_bgnbd_params_match_fader_hardie_lee_2005(
    model_and_rfm: tuple[LTVModel, pd.DataFrame],
) -> None:
    model, _ = model_and_rfm
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.bgnbd_params_[name] == pytest.approx(value, abs=0.005), name
    assert model.fit_report_["n_customers"] == 2357
    assert model.fit_report_["bgnbd_retries"] == 0


def test_bgnbd_log_likelihood_matches_fader_hardie_lee_2005(
    model_and_rfm: tuple[LTVModel, pd.DataFrame],
) -> None:
    model, _ = model_and_rfm
    assert model.fit_report_["bgnbd_log_likelihood"] == pytest.approx(-9582.4, abs=0.5)


def test_gamma_gamma_matches_fader_hardie_2013_note_025(
    model_and_rfm: tuple[LTVModel, pd.DataFrame],
) -> None:
    model, _ = model_and_rfm
    report = model.fit_report_
    published = {"p": 6.25, "q": 3.74, "v": 15.44}
    for name, value in published.items():
        assert model.gamma_gamma_params_[name] == pytest.approx(value, abs=0.02), name
    assert report["gg_n_customers"] == 946
    assert report["gg_log_likelihood"] == pytest.approx(-4055.92, abs=0.5)
    assert report["gg_observed_mean_spend"] == pytest.approx(35.08, abs=0.005)
    assert report["gg_model_mean_spend"] == pytest.approx(35.17, abs=0.02)
    # The independence assumption holds on CDNOW (correlation 0.11 in note 025).
    assert report["gg_corr_frequency_monetary"] == pytest.approx(0.11, abs=0.01)
    assert not report["gg_assumption_flagged"]


def test_conditional_expectations_match_fader_hardie_lee_2005_figure_4(
    holdout: pd.DataFrame,
) -> None:
    table = conditional_expectations_by_frequency(holdout)
    assert table["customers"].tolist() == FHL_BINS
    np.testing.assert_allclose(table["predicted_purchases"], FHL_BGNBD, atol=0.01)
    np.testing.assert_allclose(table["actual_purchases"], FHL_ACTUAL, atol=0.0006)


def test_holdout_total_and_correlation_match_fader_hardie_lee_2005(holdout: pd.DataFrame) -> None:
    metrics = holdout_metrics(holdout)["value"]
    assert metrics["purchases_actual_total"] == 1882
    assert metrics["purchases_pearson"] == pytest.approx(0.626, abs=0.01)


def test_cumulative_forecast_undershoot_matches_fader_hardie_lee_2005_figure_2(
    transactions: pd.DataFrame, model_and_rfm: tuple[LTVModel, pd.DataFrame]
) -> None:
    """By week 78 the BG/NBD forecast of cumulative repeat purchases is about 4% low."""
    model, _ = model_and_rfm
    tracking = cumulative_tracking(transactions, model, CDNOW_CALIBRATION_END, CDNOW_END)
    assert len(tracking) == 78 and tracking.index[-1] == CDNOW_END
    week_39 = tracking.loc[CDNOW_CALIBRATION_END]
    assert abs(week_39["predicted"] / week_39["actual"] - 1) < 0.02  # fitted period tracks
    final = tracking.iloc[-1]
    undershoot = final["predicted"] / final["actual"] - 1
    assert undershoot == pytest.approx(-0.04, abs=0.01)
    # Repeat purchases by week 78 = calibration repeats + the 1,882 of the holdout.
    assert final["actual"] == week_39["actual"] + 1882


def test_predictions_match_lifetimes(model_and_rfm: tuple[LTVModel, pd.DataFrame]) -> None:
    """The vectorised formulas agree with lifetimes' own methods on every customer."""
    model, rfm = model_and_rfm
    bgf, ggf = model.to_lifetimes()
    f, r, T, m = rfm["frequency"], rfm["recency"], rfm["T"], rfm["monetary_value"]
    out = model.predict(rfm, horizon_days=HOLDOUT_DAYS)
    np.testing.assert_allclose(
        out["expected_purchases"],
        bgf.conditional_expected_number_of_purchases_up_to_time(39, f, r, T),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        out["p_alive"], bgf.conditional_probability_alive(f, r, T), rtol=1e-12
    )
    np.testing.assert_allclose(
        out["expected_order_value"], ggf.conditional_expected_average_profit(f, m), rtol=1e-12
    )
    # CLV: lifetimes discounts 12 steps of 4.345 weeks at a monthly rate.
    monthly = 0.01
    reference = ggf.customer_lifetime_value(
        bgf, f, r, T, m, time=12, discount_rate=monthly, freq="W"
    )
    discounted, _ = discounted_expected_purchases(
        model.bgnbd_params_,
        f,
        r,
        T,
        horizon=12 * 4.345,
        annual_discount_rate=(1 + monthly) ** (365.25 / (4.345 * 7)) - 1,
        days_per_time_unit=7.0,
        period_days=4.345 * 7,
    )
    np.testing.assert_allclose(out["expected_order_value"] * discounted, reference, rtol=1e-8)


def test_fitters_reproduce_stock_lifetimes(model_and_rfm: tuple[LTVModel, pd.DataFrame]) -> None:
    """Same likelihood as lifetimes' fitters at any parameters; same fitted values."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    model, rfm = model_and_rfm
    fast_bg, fast_gg = fitter_classes()
    f = rfm["frequency"].to_numpy()
    bg_args = (f, rfm["recency"].to_numpy() / 39, rfm["T"].to_numpy() / 39, np.ones(len(f)), 0.01)
    rep = rfm[rfm["frequency"] > 0]
    gg_args = (
        rep["frequency"].to_numpy(float),
        rep["monetary_value"].to_numpy(),
        np.ones(len(rep)),
        0.0,
    )
    rng = np.random.default_rng(0)
    for _ in range(5):
        lp = rng.normal(0, 1, 4)
        assert fast_bg._negative_log_likelihood(lp, *bg_args) == pytest.approx(
            BetaGeoFitter._negative_log_likelihood(lp, *bg_args), rel=1e-12
        )
        lp = rng.normal(1, 1, 3)
        assert fast_gg._negative_log_likelihood(lp, *gg_args) == pytest.approx(
            GammaGammaFitter._negative_log_likelihood(lp, *gg_args), rel=1e-12
        )
    stock_bg = BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    stock_gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    for name, value in stock_bg.params_.items():
        assert model.bgnbd_params_[name] == pytest.approx(value, abs=1e-6)
    for name, value in stock_gg.params_.items():
        assert model.gamma_gamma_params_[name] == pytest.approx(value, abs=1e-6)


def test_weighted_fit_equals_unweighted_fit_on_cdnow(
    model_and_rfm: tuple[LTVModel, pd.DataFrame],
) -> None:
    model, rfm = model_and_rfm
    plain = LTVModel(time_unit="W", compress=False).fit(rfm)
    assert model.fit_report_["n_patterns"] < plain.fit_report_["n_patterns"] == 2357
    for name, value in plain.bgnbd_params_.items():
        assert model.bgnbd_params_[name] == pytest.approx(value, abs=1e-6)
    for name, value in plain.gamma_gamma_params_.items():
        assert model.gamma_gamma_params_[name] == pytest.approx(value, abs=1e-6)


def test_fit_in_days_gives_the_same_predictions(
    transactions: pd.DataFrame, model_and_rfm: tuple[LTVModel, pd.DataFrame]
) -> None:
    weekly, rfm_w = model_and_rfm
    daily = LTVModel(time_unit="D")
    rfm_d = daily.summarise(transactions, CDNOW_CALIBRATION_END)
    daily.fit(rfm_d)
    assert daily.bgnbd_params_["alpha"] == pytest.approx(
        7 * weekly.bgnbd_params_["alpha"], rel=1e-5
    )
    pd.testing.assert_frame_equal(daily.predict(rfm_d), weekly.predict(rfm_w), rtol=1e-6)


def test_p_no_purchase_ranks_one_time_buyers_where_p_alive_cannot(
    holdout: pd.DataFrame, model_and_rfm: tuple[LTVModel, pd.DataFrame]
) -> None:
    model, rfm = model_and_rfm
    out = model.predict(rfm, churn_window_days=HOLDOUT_DAYS)
    one_timers = rfm["frequency"] == 0
    assert (out.loc[one_timers, "p_alive"] == 1).all()
    churned = holdout.loc[one_timers, "actual_purchases"] == 0
    score = out.loc[one_timers, "p_no_purchase"]
    # Among one-time buyers, those predicted likelier to stay silent did so more often.
    assert score[churned].mean() > score[~churned].mean()
    # And overall the predicted share of silent customers is close to the realised one.
    assert out["p_no_purchase"].mean() == pytest.approx(
        (holdout["actual_purchases"] == 0).mean(), abs=0.03
    )


def test_diagnostics_are_written(
    transactions: pd.DataFrame, model_and_rfm: tuple[LTVModel, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = model_and_rfm
    result = write_ltv_diagnostics(model, transactions, CDNOW_CALIBRATION_END, CDNOW_END, tmp_path)
    for name in (
        "calibration_vs_holdout",
        "cumulative_tracking",
        "frequency_recency_matrix",
        "p_alive_matrix",
    ):
        path = result["paths"][name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    metrics = result["metrics"]
    for key in (
        "purchases_aggregate_error",
        "purchases_mae",
        "purchases_rmse",
        "spend_aggregate_error",
        "spend_mae",
        "spend_rmse",
        "spend_spearman",
        "clv_normalised_gini",
    ):
        assert np.isfinite(metrics[key]), key
    assert 0.3 < metrics["clv_normalised_gini"] <= 1
    deciles = result["deciles"]
    assert len(deciles) == 10 and deciles["customers"].sum() == 2357
    assert deciles["lift"].iloc[0] > 3  # the top CLV decile buys far more than average
    assert pd.read_csv(result["paths"]["holdout_metrics"], index_col=0).shape[0] == len(metrics)


@pytest.mark.slow
def test_cdnow_master_holdout_forecast() -> None:
    """All 23,570 customers: fits without retries, forecasts the holdout total within 10%."""
    master = load_cdnow("master")
    model = LTVModel(time_unit="W")
    rfm = model.summarise(master, CDNOW_CALIBRATION_END)
    model.fit(rfm)
    assert model.fit_report_["n_customers"] == 23570
    assert model.fit_report_["bgnbd_retries"] == 0
    tracking = cumulative_tracking(master, model, CDNOW_CALIBRATION_END, CDNOW_END)
    final = tracking.iloc[-1]
    assert abs(final["predicted"] / final["actual"] - 1) < 0.10
