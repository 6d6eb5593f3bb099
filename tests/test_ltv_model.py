"""LTVModel behaviour on simulated BG/NBD + Gamma-Gamma data of known parameters.

The sources of truth here are the models' own generative assumptions (Fader,
Hardie & Lee 2005; Fader & Hardie 2013): data drawn from known parameters must
give those parameters back, and the closed forms must agree with direct
integration and with what the simulated customers actually did next.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import hyp2f1

import churnml
from churnml.config import LTVConfig
from churnml.errors import DataValidationError
from churnml.evaluation.ltv_diagnostics import clv_decile_table, normalised_gini
from churnml.models import ltv_artifact, ltv_formulas
from churnml.models.ltv import (
    PREDICTION_COLUMNS,
    LTVArtifactError,
    LTVFitError,
    LTVModel,
    LTVModelError,
    bgnbd_expected_purchases,
    bgnbd_expected_time_to_next_purchase,
    bgnbd_p_alive,
    bgnbd_p_no_purchase,
    bgnbd_unconditional_expected_purchases,
    discounted_expected_purchases,
)

TRUE_BGNBD = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 2.5}  # weeks
TRUE_GG = {"p": 6.0, "q": 4.0, "v": 15.0}


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: np.ndarray | float,
    holdout: float,
    rng: np.random.Generator,
    gg: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """Draw customers from BG/NBD (and Gamma-Gamma spend) in continuous time.

    Each customer has lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b); purchases
    follow a Poisson process from the first purchase at 0; after each repeat
    purchase the customer drops out with probability p. Returns the calibration
    summary up to ``T`` plus what happened in ``(T, T + holdout]`` and whether the
    customer was still alive at ``T``.
    """
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n)
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    end = age + holdout
    clock = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    recency = np.zeros(n)
    holdout_purchases = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    active = np.arange(n)
    while active.size:
        clock[active] += rng.exponential(1.0 / lam[active])
        active = active[clock[active] <= end[active]]
        in_cal = clock[active] <= age[active]
        cal = active[in_cal]
        x[cal] += 1
        recency[cal] = clock[cal]
        holdout_purchases[active[~in_cal]] += 1
        died = active[rng.random(active.size) < drop[active]]
        alive[died[clock[died] <= age[died]]] = False
        active = np.setdiff1d(active, died, assume_unique=True)
    frame = pd.DataFrame(
        {
            "frequency": x,
            "recency": recency,
            "T": age,
            "monetary_value": 0.0,
            "holdout_purchases": holdout_purchases,
            "alive": alive,
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    if gg is not None:
        p, q, v = gg
        nu = rng.gamma(q, 1.0 / v, n)
        rep = x > 0
        frame.loc[rep, "monetary_value"] = rng.gamma(p * x[rep], 1.0 / nu[rep]) / x[rep]
    return frame


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    n = 20_000
    return simulate_bgnbd(
        n,
        **TRUE_BGNBD,
        T=rng.uniform(20, 52, n),
        holdout=26.0,
        rng=rng,
        gg=(TRUE_GG["p"], TRUE_GG["q"], TRUE_GG["v"]),
    )


@pytest.fixture(scope="module")
def fitted(simulated: pd.DataFrame) -> LTVModel:
    return LTVModel(time_unit="W").fit(simulated)


def _daily(frame: pd.DataFrame) -> pd.DataFrame:
    """The same customers seen at day resolution in weeks, as rfm_summary produces them."""
    out = frame.copy()
    out["T"] = np.floor(out["T"] * 7) / 7
    out["recency"] = np.minimum(np.floor(out["recency"] * 7) / 7, out["T"])
    out["monetary_value"] = out["monetary_value"].round(2)
    return out


# -- parameter recovery -------------------------------------------------------------------


def test_bgnbd_recovers_simulation_parameters(fitted: LTVModel) -> None:
    se = fitted.fit_report_["bgnbd_standard_errors"]
    for name, truth in TRUE_BGNBD.items():
        estimate = fitted.bgnbd_params_[name]
        assert abs(estimate - truth) < 4 * se[name], (name, estimate, truth, se[name])
        assert abs(estimate / truth - 1) < 0.2


def test_gamma_gamma_recovers_simulation_parameters(fitted: LTVModel) -> None:
    se = fitted.fit_report_["gg_standard_errors"]
    for name, truth in TRUE_GG.items():
        estimate = fitted.gamma_gamma_params_[name]
        assert abs(estimate - truth) < 4 * se[name], (name, estimate, truth, se[name])
    assert not fitted.fit_report_["gg_assumption_flagged"]


def test_weighted_fit_equals_unweighted_fit(simulated: pd.DataFrame) -> None:
    daily = _daily(simulated)
    compressed = LTVModel(compress=True).fit(daily)
    plain = LTVModel(compress=False).fit(daily)
    assert compressed.fit_report_["n_patterns"] < 0.8 * plain.fit_report_["n_patterns"]
    for name in ("r", "alpha", "a", "b"):
        assert compressed.bgnbd_params_[name] == pytest.approx(plain.bgnbd_params_[name], abs=1e-6)
    for name in ("p", "q", "v"):
        assert compressed.gamma_gamma_params_[name] == pytest.approx(
            plain.gamma_gamma_params_[name], abs=1e-6
        )
    assert compressed.fit_report_["bgnbd_log_likelihood"] == pytest.approx(
        plain.fit_report_["bgnbd_log_likelihood"], abs=1e-6
    )


# -- closed forms against integration and simulation ---------------------------------------


@pytest.mark.parametrize(
    ("x", "tx", "T", "t"),
    [(0, 0.0, 30.0, 13.0), (1, 5.0, 30.0, 13.0), (4, 28.0, 40.0, 8.0), (12, 20.0, 52.0, 26.0)],
)
def test_p_no_purchase_matches_posterior_integration(x: int, tx: float, T: float, t: float) -> None:
    """Integrate the individual-level probabilities against the prior numerically."""
    r, alpha, a, b = TRUE_BGNBD.values()

    def lam_integral(horizon: float) -> float:  # int lambda^x e^(-lambda h) Gamma(r, alpha)
        f = lambda lam: lam**x * math.exp(-lam * horizon) * stats.gamma.pdf(lam, r, scale=1 / alpha)  # noqa: E731
        return integrate.quad(f, 0, np.inf, limit=500, epsabs=0, epsrel=1e-11)[0]

    def p_integral(alive: bool) -> float:
        if alive:
            f = lambda p: (1 - p) ** x * stats.beta.pdf(p, a, b)  # noqa: E731
        else:
            f = lambda p: p * (1 - p) ** (x - 1) * stats.beta.pdf(p, a, b)  # noqa: E731
        return integrate.quad(f, 0, 1, limit=500, epsabs=0, epsrel=1e-11)[0]

    dead = p_integral(False) * lam_integral(tx) if x > 0 else 0.0
    alive_now = p_integral(True) * lam_integral(T)
    alive_quiet = p_integral(True) * lam_integral(T + t)
    expected = (alive_quiet + dead) / (alive_now + dead)
    got = bgnbd_p_no_purchase(TRUE_BGNBD, t, x, tx, T)[0]
    assert got == pytest.approx(expected, rel=1e-6)
    assert bgnbd_p_alive(TRUE_BGNBD, x, tx, T)[0] == pytest.approx(
        alive_now / (alive_now + dead), rel=1e-6
    )


@pytest.mark.parametrize(("x", "T"), [(1, 30.0), (4, 40.0)])
def test_expected_time_to_next_purchase_matches_integration(x: int, T: float) -> None:
    """E[1/lambda | alive]: lambda's posterior weight given alive is lambda^x e^(-lambda T)."""
    r, alpha = TRUE_BGNBD["r"], TRUE_BGNBD["alpha"]

    def w(lam: float, k: int) -> float:
        return float(lam ** (x + k) * math.exp(-lam * T) * stats.gamma.pdf(lam, r, scale=1 / alpha))

    num = integrate.quad(w, 0, np.inf, args=(-1,), limit=200)[0]
    den = integrate.quad(w, 0, np.inf, args=(0,), limit=200)[0]
    got = bgnbd_expected_time_to_next_purchase(TRUE_BGNBD, x, T)[0]
    assert got == pytest.approx(num / den, rel=1e-6)
    assert np.isnan(bgnbd_expected_time_to_next_purchase({**TRUE_BGNBD, "r": 0.3}, 0, T)[0])


def test_p_no_purchase_is_calibrated_on_simulated_holdout(simulated: pd.DataFrame) -> None:
    """Monte Carlo: predicted P(X(T, T+t) = 0) matches the simulated share, bin by bin."""
    f, tx, T = (simulated[c] for c in ("frequency", "recency", "T"))
    p0 = bgnbd_p_no_purchase(TRUE_BGNBD, 26.0, f, tx, T)
    observed = (simulated["holdout_purchases"] == 0).to_numpy()
    bins = pd.qcut(p0, 10, labels=False, duplicates="drop")
    table = pd.DataFrame({"p": p0, "o": observed}).groupby(bins).agg(["mean", "size"])
    se = np.sqrt(table[("p", "mean")] * (1 - table[("p", "mean")]) / table[("o", "size")])
    assert (np.abs(table[("p", "mean")] - table[("o", "mean")]) < 4 * se + 1e-3).all(), table
    assert abs(p0.mean() - observed.mean()) < 0.01


def test_p_alive_and_expected_purchases_are_calibrated(simulated: pd.DataFrame) -> None:
    f, tx, T = (simulated[c] for c in ("frequency", "recency", "T"))
    rep = (f > 0).to_numpy()
    p_alive = bgnbd_p_alive(TRUE_BGNBD, f, tx, T)
    assert abs(p_alive[rep].mean() - simulated["alive"][rep].mean()) < 0.01
    expected = bgnbd_expected_purchases(TRUE_BGNBD, 26.0, f, tx, T)
    by_f = pd.DataFrame({"e": expected, "o": simulated["holdout_purchases"]}).groupby(
        np.minimum(f, 4)
    )
    means = by_f.mean()
    sem = by_f["o"].sem()
    assert (np.abs(means["e"] - means["o"]) < 4 * sem).all(), means


def test_unconditional_expectation_is_the_zero_history_case() -> None:
    t = np.array([0.0, 1.0, 13.0, 52.0])
    unconditional = bgnbd_unconditional_expected_purchases(TRUE_BGNBD, t)
    conditional = bgnbd_expected_purchases(TRUE_BGNBD, t, 0, 0.0, 0.0)
    np.testing.assert_allclose(unconditional, conditional)
    assert unconditional[0] == 0.0


def test_hypergeometric_fallback_series() -> None:
    """The series used where scipy's hyp2f1 fails agrees with scipy where it works."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 9, 500), rng.uniform(-1, 4, 500)
    c, z = rng.uniform(1, 300, 500), rng.uniform(0, 0.95, 500)
    np.testing.assert_allclose(
        ltv_formulas._gauss_series(a, b, c, z), hyp2f1(a, b, c, z), rtol=1e-10
    )
    # A history scipy cannot evaluate: 161 purchases in 0.1 week, a 134-week horizon.
    params = {"r": 0.05, "alpha": 0.33, "a": 0.05, "b": 0.1}
    assert np.isnan(hyp2f1(params["a"] + params["b"] - 1 - params["r"], -0.95, 160.15, 0.9968))
    out = bgnbd_expected_purchases(params, [134.0, 268.0], 161, 0.03, 0.1)
    assert np.isfinite(out).all() and 0 < out[0] < out[1]


@settings(max_examples=60, deadline=None, database=None)
@given(
    r=st.floats(0.05, 5),
    alpha=st.floats(0.1, 50),
    a=st.floats(0.05, 5),
    b=st.floats(0.05, 10),
    x=st.integers(0, 200),
    share=st.floats(0, 1),
    T=st.floats(0.1, 500),
    t=st.floats(0.01, 200),
)
def test_closed_forms_are_coherent(
    r: float, alpha: float, a: float, b: float, x: int, share: float, T: float, t: float
) -> None:
    params = {"r": r, "alpha": alpha, "a": a, "b": b}
    tx = share * T if x > 0 else 0.0
    p_alive = bgnbd_p_alive(params, x, tx, T)[0]
    p0 = bgnbd_p_no_purchase(params, t, x, tx, T)[0]
    p0_longer = bgnbd_p_no_purchase(params, 2 * t, x, tx, T)[0]
    expected = bgnbd_expected_purchases(params, np.array([t, 2 * t]), x, tx, T)
    assert 0.0 <= p_alive <= 1.0
    assert 1.0 - p_alive - 1e-9 <= p0 <= 1.0 + 1e-12  # the dead never buy
    assert p0_longer <= p0 + 1e-12
    assert np.all(np.isfinite(expected)) and 0.0 <= expected[0] <= expected[1] * (1 + 1e-9) + 1e-12
    disc, plain = discounted_expected_purchases(params, [x], [tx], [T], 2 * t, 0.1)
    assert disc[0] <= plain[0] * (1 + 1e-9) + 1e-12
    assert plain[0] == pytest.approx(expected[1], rel=1e-6, abs=1e-9)


# -- predict --------------------------------------------------------------------------------


def test_predict_contract(fitted: LTVModel, simulated: pd.DataFrame) -> None:
    rfm = simulated.iloc[:500]
    out = fitted.predict(rfm, horizon_days=182, churn_window_days=60)
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert out.index.equals(rfm.index)
    one_timers = (rfm["frequency"] == 0).to_numpy()
    assert (out.loc[one_timers, "p_alive"] == 1.0).all()
    # p_no_purchase ranks one-time buyers (where 1 - p_alive is constant 0).
    assert out.loc[one_timers, "p_no_purchase"].nunique() > 10
    assert out[list(PREDICTION_COLUMNS[:5])].notna().all().all()
    assert ((out["p_no_purchase"] >= 0) & (out["p_no_purchase"] <= 1)).all()
    r = fitted.bgnbd_params_["r"]
    undefined = (r + rfm["frequency"]) <= 1
    assert out["expected_days_to_next_purchase"].isna().equals(undefined)


def test_predict_horizon_window_and_money_are_consistent(
    fitted: LTVModel, simulated: pd.DataFrame
) -> None:
    rfm = simulated.iloc[:300]
    short = fitted.predict(rfm, horizon_days=90, churn_window_days=30)
    long = fitted.predict(rfm, horizon_days=365, churn_window_days=120)
    assert (long["expected_purchases"] >= short["expected_purchases"]).all()
    assert (long["p_no_purchase"] <= short["p_no_purchase"] + 1e-12).all()
    flat = LTVModel(margin=1.0, annual_discount_rate=0.0)
    flat.bgnbd_params_, flat.gamma_gamma_params_ = fitted.bgnbd_params_, fitted.gamma_gamma_params_
    undiscounted = flat.predict(rfm)
    np.testing.assert_allclose(
        undiscounted["clv"],
        undiscounted["expected_purchases"] * undiscounted["expected_order_value"],
        rtol=1e-10,
    )
    steep = LTVModel(margin=1.0, annual_discount_rate=0.5)
    steep.bgnbd_params_, steep.gamma_gamma_params_ = (
        fitted.bgnbd_params_,
        fitted.gamma_gamma_params_,
    )
    assert (steep.predict(rfm)["clv"] <= undiscounted["clv"] + 1e-12).all()


def test_days_and_weeks_give_the_same_model(simulated: pd.DataFrame) -> None:
    weeks = _daily(simulated.iloc[:5000])
    days = weeks.assign(recency=weeks["recency"] * 7, T=weeks["T"] * 7)
    mw = LTVModel(time_unit="W").fit(weeks)
    md = LTVModel(time_unit="D").fit(days)
    for name in ("r", "a", "b"):
        assert md.bgnbd_params_[name] == pytest.approx(mw.bgnbd_params_[name], rel=1e-5)
    assert md.bgnbd_params_["alpha"] == pytest.approx(7 * mw.bgnbd_params_["alpha"], rel=1e-5)
    pd.testing.assert_frame_equal(md.predict(days), mw.predict(weeks), rtol=1e-5)


def test_predictions_per_pattern_equal_predictions_per_row(fitted: LTVModel) -> None:
    """Many duplicated histories: evaluated once per pattern, broadcast back."""
    rng = np.random.default_rng(3)
    n = 200_000
    T = rng.integers(1, 365, n) / 7
    x = rng.poisson(1.0, n)
    rfm = pd.DataFrame(
        {
            "frequency": x,
            "recency": np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7) / 7, 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, rng.gamma(5, 8, n), 0.0),
        }
    )
    out = fitted.predict(rfm)
    check = rfm.sample(200, random_state=1)
    ref = fitted.predict(check.reset_index(drop=True))
    np.testing.assert_allclose(out.loc[check.index].to_numpy(), ref.to_numpy(), equal_nan=True)


# -- robustness -----------------------------------------------------------------------------


def _failing_fit(fail_first: int, error: Exception | None = None) -> Callable[..., Any]:
    from lifetimes import BetaGeoFitter

    original = BetaGeoFitter.fit
    calls = {"n": 0}

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            if error is not None:
                raise error
            original(self, *args, **kwargs)
            self.params_["r"] = float("nan")  # an optimiser that "succeeds" with NaN
            return self
        return original(self, *args, **kwargs)

    return fit


def test_failed_fit_is_retried_and_recorded(
    monkeypatch: pytest.MonkeyPatch, simulated: pd.DataFrame
) -> None:
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import ConvergenceError

    monkeypatch.setattr(BetaGeoFitter, "fit", _failing_fit(2, ConvergenceError("did not converge")))
    with pytest.warns(UserWarning, match="BG/NBD fit needed 2 retries"):
        model = LTVModel().fit(simulated.iloc[:3000])
    report = model.fit_report_
    assert report["bgnbd_retries"] == 2
    assert [a["error"] is None for a in report["bgnbd_attempts"]] == [False, False, True]
    assert report["bgnbd_penalizer_coef"] > 0  # the third rung raises the penalty
    assert "ConvergenceError" in report["bgnbd_attempts"][0]["error"]
    assert any("retr" in w for w in report["warnings"])
    assert all(math.isfinite(v) for v in model.bgnbd_params_.values())


def test_nan_parameters_are_never_returned(
    monkeypatch: pytest.MonkeyPatch, simulated: pd.DataFrame
) -> None:
    from lifetimes import BetaGeoFitter

    monkeypatch.setattr(BetaGeoFitter, "fit", _failing_fit(1))
    with pytest.warns(UserWarning):
        model = LTVModel().fit(simulated.iloc[:3000])
    assert "non-finite" in model.fit_report_["bgnbd_attempts"][0]["error"]
    monkeypatch.setattr(BetaGeoFitter, "fit", _failing_fit(99))
    with pytest.raises(LTVFitError, match="BG/NBD fit failed after"):
        LTVModel().fit(simulated.iloc[:3000])


def test_tiny_data_fit_is_retried_and_recorded() -> None:
    """Six repeat buyers: the first attempt fails, a retry succeeds and says so.

    How the first attempt fails depends on the BLAS kernel (lifetimes' ConvergenceError,
    or a degenerate optimum that the model's own check rejects), so only the failure is
    asserted, not its message.
    """
    rng = np.random.default_rng(0)
    rfm = pd.DataFrame(
        {"frequency": 0, "recency": 0.0, "T": rng.uniform(7, 30, 500), "monetary_value": 0.0}
    )
    rfm.loc[:5, ["frequency", "recency", "monetary_value"]] = np.array(
        [[1, 2, 10], [2, 5, 20], [1, 3, 15], [3, 6, 30], [1, 1, 12], [2, 4, 18]], dtype=float
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LTVModel().fit(rfm)
    report = model.fit_report_
    assert report["bgnbd_retries"] >= 1
    assert report["bgnbd_attempts"][0]["error"]  # the first attempt failed, for a reason
    assert report["bgnbd_attempts"][-1]["error"] is None
    assert any("BG/NBD fit needed" in str(w.message) for w in caught)
    assert report["gg_assumption_flagged"]  # spend rises with frequency in these rows
    assert any("correlation" in str(w.message) for w in caught)
    out = model.predict(rfm)
    assert np.isfinite(out.drop(columns="expected_days_to_next_purchase").to_numpy()).all()


def test_gamma_gamma_assumption_is_checked(simulated: pd.DataFrame) -> None:
    skewed = simulated.copy()
    rep = skewed["frequency"] > 0
    skewed.loc[rep, "monetary_value"] = (
        5.0 * skewed.loc[rep, "frequency"] + skewed.loc[rep, "monetary_value"] / 10
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LTVModel().fit(skewed)
    assert any("Gamma-Gamma assumes spend independent" in str(w.message) for w in caught)
    assert any("Gamma-Gamma assumes" in note for note in model.fit_report_["warnings"])
    assert model.fit_report_["gg_assumption_flagged"]
    assert model.fit_report_["gg_corr_frequency_monetary"] > 0.3


def test_zero_value_orders_and_refunds_are_explicit(
    fitted: LTVModel, simulated: pd.DataFrame
) -> None:
    rfm = simulated.iloc[:4000].copy()
    free = rfm.index[rfm["frequency"] > 0][:25]
    rfm.loc[free, "monetary_value"] = 0.0  # repeat orders that were all free
    model = LTVModel().fit(rfm)
    assert model.fit_report_["gg_n_zero_value_excluded"] == 25
    assert model.fit_report_["gg_n_customers"] == int((rfm["monetary_value"] > 0).sum())
    out = model.predict(rfm)
    p, q, v = model.gamma_gamma_params_.values()
    population_mean = p * v / (q - 1)
    assert (out.loc[free, "expected_order_value"] < population_mean).all()
    assert (out.loc[free, "expected_order_value"] > 0).all()

    refunds = rfm.copy()
    refunds.iloc[3, refunds.columns.get_loc("monetary_value")] = -12.0
    with pytest.raises(DataValidationError, match="refunds are not purchases"):
        fitted.predict(refunds)


def test_bad_rfm_lists_every_problem(fitted: LTVModel) -> None:
    bad = pd.DataFrame(
        {
            "frequency": [0, 1.5, -1, 2, 0],
            "recency": [1.0, 2.0, 0.0, 9.0, 0.0],
            "T": [5.0, 5.0, 5.0, 5.0, np.nan],
            "monetary_value": [0.0, 1.0, 1.0, 1.0, 0.0],
        }
    )
    with pytest.raises(DataValidationError) as info:
        fitted.predict(bad)
    text = str(info.value)
    for fragment in (
        "non-negative integer",
        "must not exceed T",
        "must be 0 when frequency is 0",
        "infinite",
    ):
        assert fragment in text
    with pytest.raises(DataValidationError, match="monetary_value"):
        fitted.predict(bad.drop(columns="monetary_value"))


def test_hyperparameters_and_state_are_checked(simulated: pd.DataFrame) -> None:
    with pytest.raises(LTVModelError, match="not fitted"):
        LTVModel().predict(simulated)
    with pytest.raises(ValueError, match="time_unit"):
        LTVModel(time_unit="M").fit(simulated)  # type: ignore[arg-type]
    with pytest.raises(LTVModelError, match="margin"):
        LTVModel(margin=0).fit(simulated)
    model = LTVModel().fit(simulated.iloc[:2000])
    with pytest.raises(LTVModelError, match="horizon_days"):
        model.predict(simulated.iloc[:10], horizon_days=0)


# -- sklearn conventions, config, persistence ---------------------------------------------


def test_estimator_conventions(simulated: pd.DataFrame) -> None:
    model = LTVModel(time_unit="D", penalizer_coef=0.01)
    assert model.get_params()["penalizer_coef"] == 0.01
    assert not hasattr(model, "bgnbd_params_")
    assert "penalizer_coef=0.01" in repr(model)
    sklearn_base = pytest.importorskip("sklearn.base")
    twin = sklearn_base.clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    rfm = _daily(simulated.iloc[:2000])
    assert LTVModel().fit(rfm) is not None
    fitted = LTVModel()
    assert fitted.fit(rfm) is fitted
    with pytest.raises(ValueError, match="Invalid parameter 'nope'"):
        model.set_params(nope=1)


def test_from_config() -> None:
    cfg = LTVConfig(
        time_unit="D",
        penalizer_coef=0.001,
        gg_penalizer_coef=0.0,
        margin=0.25,
        annual_discount_rate=0.08,
    )
    model = LTVModel.from_config(cfg)
    assert model.get_params() == {
        "time_unit": "D",
        "penalizer_coef": 0.001,
        "gg_penalizer_coef": 0.0,
        "margin": 0.25,
        "annual_discount_rate": 0.08,
        "compress": True,
    }


def test_save_and_load_round_trip(
    fitted: LTVModel, simulated: pd.DataFrame, tmp_path: Path
) -> None:
    path = fitted.save(tmp_path / "ltv.json")
    payload = json.loads(path.read_text())
    assert payload["format"] == "churnml.ltv" and payload["model_id"] == fitted.model_id
    assert payload["churnml_version"] == churnml.__version__
    assert set(payload["bgnbd_params"]) == {"r", "alpha", "a", "b"}
    loaded = LTVModel.load(path)
    assert loaded.bgnbd_params_ == fitted.bgnbd_params_
    assert loaded.gamma_gamma_params_ == fitted.gamma_gamma_params_
    assert loaded.get_params() == fitted.get_params()
    assert loaded.model_id == fitted.model_id
    rfm = simulated.iloc[:1000]
    pd.testing.assert_frame_equal(loaded.predict(rfm), fitted.predict(rfm))
    assert loaded.fit_report_["n_customers"] == len(simulated)


def test_load_rejects_edited_or_foreign_artifacts(fitted: LTVModel, tmp_path: Path) -> None:
    good = fitted.to_dict()
    edited = json.loads(json.dumps(good))
    edited["bgnbd_params"]["r"] *= 1.01
    with pytest.raises(LTVArtifactError, match="model_id mismatch"):
        LTVModel.from_dict(edited)
    other_config = json.loads(json.dumps(good))
    other_config["config"]["margin"] = 0.9
    with pytest.raises(LTVArtifactError, match="model_id mismatch"):
        LTVModel.from_dict(other_config)
    with pytest.raises(LTVArtifactError, match="not a churnml LTV model"):
        LTVModel.from_dict({"format": "pickle"})
    with pytest.raises(LTVArtifactError, match="format_version"):
        LTVModel.from_dict({**good, "format_version": 99})

    # An artifact written by another churnml version: its id is self-consistent but stale.
    old = {**good, "churnml_version": "0.0.1"}
    old["model_id"] = ltv_artifact.model_id(old)
    with pytest.raises(LTVArtifactError, match="written by churnml 0.0.1"):
        LTVModel.from_dict(old)
    with pytest.warns(UserWarning, match="written by churnml 0.0.1"):
        assert (
            LTVModel.from_dict(old, allow_version_mismatch=True).bgnbd_params_
            == fitted.bgnbd_params_
        )
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LTVArtifactError, match="not valid JSON"):
        LTVModel.load(tmp_path / "bad.json")


def test_model_id_depends_on_version(fitted: LTVModel, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fitted.model_id
    monkeypatch.setattr(ltv_artifact, "churnml_version", "9.9.9")
    assert fitted.model_id != before


# -- evaluation helpers ---------------------------------------------------------------------


def test_normalised_gini_and_deciles() -> None:
    rng = np.random.default_rng(0)
    actual = rng.gamma(0.5, 100, 5000)
    assert normalised_gini(actual, actual) == pytest.approx(1.0)
    assert normalised_gini(actual, -actual) < -0.9
    assert abs(normalised_gini(actual, rng.random(5000))) < 0.1
    assert normalised_gini(actual, np.ones(5000)) == pytest.approx(0.0, abs=1e-12)  # ties averaged
    table = clv_decile_table(actual, actual)
    assert table["customers"].sum() == 5000
    assert table["cumulative_spend_share"].iloc[-1] == pytest.approx(1.0)
    assert table["actual_spend_mean"].is_monotonic_decreasing


def test_value_if_retained_is_clv_given_alive(fitted: LTVModel, simulated: pd.DataFrame) -> None:
    """value_if_retained = clv / P(alive): the CLV of the customer if alive (FHL 2005, eq. 9
    with the posterior parameters), which a win-back that brings them back earns."""
    rfm = simulated.iloc[:400]
    out = fitted.predict(rfm)
    np.testing.assert_allclose(out["clv"], out["p_alive"] * out["value_if_retained"], rtol=1e-10)
    assert (out["value_if_retained"] >= out["clv"] - 1e-12).all()
    # Undiscounted and at margin 1 it is order value x the alive customer's expected purchases.
    flat = LTVModel(margin=1.0, annual_discount_rate=0.0)
    flat.bgnbd_params_, flat.gamma_gamma_params_ = fitted.bgnbd_params_, fitted.gamma_gamma_params_
    plain = flat.predict(rfm)
    given_alive = plain["expected_purchases"] / plain["p_alive"]
    np.testing.assert_allclose(
        plain["value_if_retained"], given_alive * plain["expected_order_value"], rtol=1e-10
    )
    # A long-silent frequent buyer is probably gone, but worth much if back.
    gone = out["p_alive"].idxmin()
    assert out.loc[gone, "value_if_retained"] > 5 * out.loc[gone, "clv"]


def test_patterns_number_groups_in_order_of_first_appearance() -> None:
    from churnml.models.ltv_fitting import patterns

    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, 2000).astype(float)
    x[::9] = -0.0  # equal to 0.0: the same group
    columns = (x, rng.integers(0, 30, 2000).astype(float), rng.integers(40, 44, 2000) * 1.0)
    codes, rep, sizes = patterns(*columns)
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    expected = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(sizes, np.bincount(expected))
    for c in columns:
        np.testing.assert_array_equal(c[rep][codes], c)
    assert [len(a) for a in patterns(np.empty(0), np.empty(0))] == [0, 0, 0]
