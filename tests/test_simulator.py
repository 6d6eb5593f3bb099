"""Tests of the simulated retailer: contract, internal consistency, known truth.

The simulator is the yardstick of every model in churnml, so these tests check that
its tables are what the data contract promises, that its truth agrees with its tables
to the cent, that it is reproducible, and that the generative story holds: pure BG/NBD
parameters are recovered by lifetimes (Fader, Hardie & Lee 2005), the randomised
campaign measures the true uplift, and returns and fading engagement carry signal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.data.contract import EVENT_TYPES, validate_tables
from churnml.datasets import SimulatedData, simulate
from churnml.datasets.simulator import (
    ACTIONS,
    CAMPAIGN_ACTIONS,
    CHANNELS,
    SimulationParams,
    write_simulation,
)

N = 20_000
AS_OF = pd.Timestamp("2025-01-01")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> SimulatedData:
    return simulate(N, seed=7)


@pytest.fixture(scope="module")
def pure() -> SimulatedData:
    return simulate(N, seed=11, behaviour_signal=False)


def _purchases(tx: pd.DataFrame) -> pd.DataFrame:
    return tx[tx["amount"] > 0]


def _history_features(data: SimulatedData) -> pd.DataFrame:
    """Observed return rate and recent engagement per customer, before as_of."""
    tx = data.transactions[data.transactions["order_date"] < data.as_of]
    orders = _purchases(tx).groupby("customer_id").size()
    returns = tx[tx["amount"] < 0].groupby("customer_id").size()
    ev = data.events
    recent = ev[
        (ev["event_date"] >= data.as_of - 30 * DAY)
        & (ev["event_date"] < data.as_of)
        & ev["event_type"].isin(["email_open", "site_visit", "app_session"])
    ]
    truth = data.truth.set_index("customer_id")
    out = pd.DataFrame(index=truth.index)
    out["return_rate"] = returns.reindex(out.index, fill_value=0) / orders.reindex(out.index)
    out["recent_engagement"] = recent.groupby("customer_id").size().reindex(out.index, fill_value=0)
    # Engagement relative to the customer's own level: the fade, not the trait.
    out["relative_engagement"] = out["recent_engagement"] / (30 * truth["engagement_rate"])
    out["churned"] = truth["churned_in_window_90"]
    return out


# ----------------------------------------------------------------- contract and shapes


def test_tables_pass_the_data_contract(sim: SimulatedData) -> None:
    tables = validate_tables(
        sim.transactions, sim.customers, sim.events, sim.campaigns, strict_events=True
    )
    # order_id is unique, so validation merges nothing.
    assert len(tables.transactions) == len(sim.transactions)
    assert tables.campaigns is not None and len(tables.campaigns) == len(sim.campaigns)


def test_table_columns_and_types(sim: SimulatedData) -> None:
    tx = sim.transactions
    assert list(tx.columns) == ["customer_id", "order_id", "order_date", "amount", "channel"]
    assert tx["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert tx["order_id"].is_unique
    assert pd.api.types.is_datetime64_ns_dtype(tx["order_date"])
    assert set(tx["channel"]) == set(CHANNELS)
    assert np.allclose(tx["amount"], tx["amount"].round(2), rtol=0, atol=1e-9)
    assert (tx["amount"] != 0).all()
    # Random times of day, and the period runs from start to as_of + horizon (exclusive).
    assert (tx["order_date"].dt.hour > 0).mean() > 0.9
    assert tx["order_date"].min() >= pd.Timestamp("2023-01-01")
    assert tx["order_date"].max() < AS_OF + sim.horizon_days * DAY
    assert (tx["order_date"] >= AS_OF).any()
    # Sorted by customer, then time.
    assert tx["customer_id"].is_monotonic_increasing
    assert (tx.groupby("customer_id")["order_date"].diff().dropna() >= pd.Timedelta(0)).all()

    cust = sim.customers
    assert {"customer_id", "signup_date", "home_channel", "region"} <= set(cust.columns)
    assert cust["customer_id"].is_unique and len(cust) == N
    for c in ("consent_email", "consent_sms", "consent_push"):
        assert cust[c].dtype == bool
    assert set(sim.events["event_type"]) == set(EVENT_TYPES)
    assert sim.truth["customer_id"].tolist() == cust["customer_id"].tolist()
    expected_truth = {
        "lambda_per_day", "p_dropout", "mean_order_value", "return_propensity",
        "engagement_rate", "acquired_date", "death_date", "alive_at_as_of",
        "purchases_in_horizon", "spend_in_horizon", "churned_in_window_90",
        "campaign_true_uplift", *(f"uplift_{a}" for a in ACTIONS),
    }  # fmt: skip
    assert expected_truth <= set(sim.truth.columns)


def test_refunds_are_separate_negative_rows_after_an_order(sim: SimulatedData) -> None:
    tx = sim.transactions
    refunds = tx[tx["amount"] < 0]
    assert 0.01 < len(refunds) / len(tx) < 0.1
    first_order = _purchases(tx).groupby("customer_id")["order_date"].min()
    assert (refunds["order_date"] > refunds["customer_id"].map(first_order)).all()
    # No customer is refunded more than they ever paid.
    paid = _purchases(tx).groupby("customer_id")["amount"].sum()
    refunded = -refunds.groupby("customer_id")["amount"].sum()
    assert (refunded <= paid.reindex(refunded.index) + 1e-9).all()


def test_customers_sign_up_before_buying_and_push_needs_the_app(sim: SimulatedData) -> None:
    cust = sim.customers.set_index("customer_id")
    first = _purchases(sim.transactions).groupby("customer_id")["order_date"].min()
    assert first.index.equals(cust.index)  # every customer buys at acquisition
    assert (cust["signup_date"] <= first).all()
    assert (cust["signup_date"] >= first.dt.normalize() - 61 * DAY).all()
    assert not (cust["consent_push"] & ~cust["app_user"]).any()
    truth = sim.truth.set_index("customer_id")
    assert (truth["acquired_date"] == first).all()
    assert (
        truth["acquired_date"]
        < pd.Timestamp("2023-01-01") + 0.6 * (AS_OF - pd.Timestamp("2023-01-01"))
    ).all()


def test_events_follow_sign_up_and_respect_consent(sim: SimulatedData) -> None:
    ev = sim.events.merge(sim.customers, on="customer_id")
    assert (ev["event_date"] >= ev["signup_date"]).all()
    assert ev["event_date"].max() < AS_OF + sim.horizon_days * DAY
    assert not ((ev["event_type"] == "email_open") & ~ev["consent_email"]).any()
    assert not ((ev["event_type"] == "app_session") & ~ev["app_user"]).any()


def test_population_is_realistic(sim: SimulatedData) -> None:
    truth = sim.truth
    assert 0.4 <= truth["churned_in_window_90"].mean() <= 0.65
    # A typical customer buys every one to three months.
    assert 30 <= 1 / truth["lambda_per_day"].median() <= 90
    tx = _purchases(sim.transactions)
    assert 25 < tx["amount"].mean() < 80
    store = sim.customers["home_channel"] == "store"
    mov = truth["mean_order_value"]
    assert mov[store].mean() > mov[~store].mean()
    home = tx.merge(sim.customers[["customer_id", "home_channel"]], on="customer_id")
    assert (home["channel"] == home["home_channel"]).mean() > 0.7


# ----------------------------------------------------------------- truth agrees with tables


def test_truth_outcomes_agree_with_transactions(sim: SimulatedData) -> None:
    tx = _purchases(sim.transactions)
    end = sim.as_of + sim.horizon_days * DAY
    future = tx[(tx["order_date"] >= sim.as_of) & (tx["order_date"] < end)]
    in_90 = tx[(tx["order_date"] >= sim.as_of) & (tx["order_date"] < sim.as_of + 90 * DAY)]
    truth = sim.truth.set_index("customer_id")
    counts = future.groupby("customer_id").size().reindex(truth.index, fill_value=0)
    spend = future.groupby("customer_id")["amount"].sum().reindex(truth.index, fill_value=0.0)
    assert (truth["purchases_in_horizon"] == counts).all()
    np.testing.assert_allclose(truth["spend_in_horizon"], spend, rtol=0, atol=1e-6)
    churned = ~truth.index.isin(in_90["customer_id"])
    assert (truth["churned_in_window_90"].to_numpy() == churned).all()


def test_death_dates_are_consistent(sim: SimulatedData) -> None:
    truth = sim.truth.set_index("customer_id")
    alive = truth["alive_at_as_of"]
    assert not (alive & (truth["death_date"] < sim.as_of)).any()
    assert (truth.loc[~alive, "death_date"] < sim.as_of).all()
    # BG/NBD: the death date is the last purchase; nothing is bought afterwards.
    last = _purchases(sim.transactions).groupby("customer_id")["order_date"].max()
    dead = truth["death_date"].notna()
    natural_after = last[dead] > truth.loc[dead, "death_date"]
    # Only a win-back response can follow death.
    responders = set(sim.campaigns.loc[sim.campaigns["treated"], "customer_id"])
    assert set(natural_after[natural_after].index) <= responders
    # Dead customers make no purchase in the horizon, apart from win-back responses.
    assert (truth.loc[~alive, "purchases_in_horizon"] == 0).all()


def test_expected_purchases_are_calibrated(sim: SimulatedData) -> None:
    truth = sim.truth
    expected = truth["expected_purchases_in_horizon"].sum()
    realised = truth["purchases_in_horizon"].sum()
    assert abs(realised / expected - 1) < 0.05


def test_campaign_outcomes_agree_with_transactions(sim: SimulatedData) -> None:
    camp = sim.campaigns
    sent = camp["sent_date"].iloc[0]
    tx = _purchases(sim.transactions)
    window = tx[(tx["order_date"] >= sent) & (tx["order_date"] < sent + 30 * DAY)]
    by_cust = window.groupby("customer_id")["amount"].agg(["size", "sum"])
    merged = camp.join(by_cust, on="customer_id")
    assert (camp["converted"] == merged["size"].fillna(0).gt(0)).all()
    np.testing.assert_allclose(camp["revenue"], merged["sum"].fillna(0.0), rtol=0, atol=1e-6)


# ----------------------------------------------------------------- the past campaign


def test_campaign_design(sim: SimulatedData) -> None:
    camp = sim.campaigns
    sent = AS_OF - 120 * DAY
    assert set(camp["campaign_id"]) == {f"winback-{sent.date().isoformat()}"}
    assert (camp["sent_date"] == sent).all()
    assert camp["customer_id"].is_unique
    assert set(camp["action"]) == set(CAMPAIGN_ACTIONS)
    assert (camp["channel"] == camp["action"].map(CAMPAIGN_ACTIONS)).all()
    merged = camp.merge(sim.customers, on="customer_id").merge(sim.truth, on="customer_id")
    assert (merged["acquired_date"] < sent).all()
    consent = {"email": "consent_email", "sms": "consent_sms", "push": "consent_push"}
    for channel, column in consent.items():
        assert merged.loc[merged["channel"] == channel, column].all()
    # Everyone acquired before the send date with some consent is in the campaign.
    reachable = sim.customers[["consent_email", "consent_sms", "consent_push"]].any(axis=1)
    acquired = sim.truth["acquired_date"] < sent
    assert len(camp) == int((reachable & acquired).sum())
    control = 1 - camp["treated"].mean()
    assert abs(control - 0.2) < 4 * np.sqrt(0.2 * 0.8 / len(camp))


def test_randomised_campaign_measures_the_true_uplift(sim: SimulatedData) -> None:
    camp = sim.campaigns.merge(sim.truth[["customer_id", "campaign_true_uplift"]], on="customer_id")
    treated, control = camp[camp["treated"]], camp[~camp["treated"]]
    p_t, p_c = treated["converted"].mean(), control["converted"].mean()
    se = np.sqrt(p_t * (1 - p_t) / len(treated) + p_c * (1 - p_c) / len(control))
    true = treated["campaign_true_uplift"].mean()
    assert true > 0.01
    assert abs((p_t - p_c) - true) < 3.5 * se
    # Control customers convert only through natural purchases: same true uplift on both
    # arms (randomisation), and the arms' uplift does not differ much.
    assert abs(control["campaign_true_uplift"].mean() - true) < 0.01


def test_true_uplift_depends_on_traits(sim: SimulatedData) -> None:
    truth = sim.truth
    assert (truth[[f"uplift_{a}" for a in ACTIONS]] >= 0).all().all()
    assert (truth[[f"uplift_{a}" for a in ACTIONS]] <= 1).all().all()
    dead_long = truth["death_date"] < sim.as_of - 365 * DAY
    assert truth.loc[dead_long, "uplift_email_discount"].max() < 1e-3
    low_spend = truth["mean_order_value"] < truth["mean_order_value"].median()
    disc = truth["uplift_email_discount"]
    assert disc[low_spend].mean() > 1.5 * disc[~low_spend].mean()
    engaged = truth["engagement_rate"] > truth["engagement_rate"].median()
    rem = truth["uplift_email_reminder"]
    assert rem[engaged].mean() > 1.5 * rem[~engaged].mean()
    no_app = ~sim.customers["app_user"]
    assert (truth.loc[no_app.to_numpy(), "uplift_push_offer"] == 0).all()


# ----------------------------------------------------------------- reproducibility


def test_same_seed_same_tables_and_different_seed_different_tables() -> None:
    a, b, c = simulate(2_000, seed=3), simulate(2_000, seed=3), simulate(2_000, seed=4)
    for name in ("transactions", "customers", "events", "campaigns", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.params == b.params
    assert not a.transactions["amount"].equals(c.transactions["amount"])
    assert not a.truth["lambda_per_day"].equals(c.truth["lambda_per_day"])


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n_customers"):
        simulate(0)
    with pytest.raises(ValueError, match="as_of"):
        simulate(10, start="2025-01-01", as_of="2024-01-01")
    with pytest.raises(ValueError, match="horizon_days"):
        simulate(10, horizon_days=30)
    with pytest.raises(ValueError, match="campaign_date"):
        simulate(10, campaign_date="2025-12-15")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    history_days=st.integers(200, 1200),
    horizon=st.integers(90, 500),
    behaviour=st.booleans(),
)
def test_any_settings_give_valid_consistent_tables(
    n: int, seed: int, history_days: int, horizon: int, behaviour: bool
) -> None:
    start = pd.Timestamp("2021-03-15")
    as_of = start + history_days * DAY
    data = simulate(
        n, seed, start=start.date(), as_of=as_of.date(), horizon_days=horizon,
        behaviour_signal=behaviour,
    )  # fmt: skip
    validate_tables(
        data.transactions,
        data.customers,
        data.events if len(data.events) else None,
        data.campaigns if len(data.campaigns) else None,
        strict_events=True,
    )
    tx = _purchases(data.transactions)
    assert data.transactions["order_date"].min() >= start
    assert data.transactions["order_date"].max() < as_of + horizon * DAY
    future = tx[tx["order_date"] >= as_of].groupby("customer_id").size()
    truth = data.truth.set_index("customer_id")
    assert (truth["purchases_in_horizon"] == future.reindex(truth.index, fill_value=0)).all()
    assert len(truth) == n


# ----------------------------------------------------------------- the generative story


def test_pure_bgnbd_parameters_are_recovered_by_lifetimes(pure: SimulatedData) -> None:
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    tx = _purchases(pure.transactions)
    tx = tx[tx["order_date"] < pure.as_of]
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "order_date", observation_period_end=pure.as_of - DAY, freq="D"
    )
    fitted = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    true = pure.params["bgnbd"]
    # 20k customers: about 3 % standard error on r and alpha and 10 % on a and b; day
    # rounding merges a few same-day purchases, biasing alpha up by a few percent.
    assert fitted["r"] == pytest.approx(true["r"], rel=0.12)
    assert fitted["alpha"] == pytest.approx(true["alpha"], rel=0.15)
    assert fitted["a"] == pytest.approx(true["a"], rel=0.3)
    assert fitted["b"] == pytest.approx(true["b"], rel=0.35)
    mean_p = fitted["a"] / (fitted["a"] + fitted["b"])
    assert mean_p == pytest.approx(true["a"] / (true["a"] + true["b"]), rel=0.15)


def test_pure_gamma_gamma_parameters_are_recovered_by_lifetimes(pure: SimulatedData) -> None:
    from lifetimes import GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    tx = _purchases(pure.transactions)
    tx = tx[tx["order_date"] < pure.as_of]
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "order_date", "amount", observation_period_end=pure.as_of - DAY
    )
    repeat = summary[summary["frequency"] > 0]
    fitted = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]).params_
    true = pure.params["gamma_gamma"]
    implied = fitted["p"] * fitted["v"] / (fitted["q"] - 1)
    assert implied == pytest.approx(true["p"] * true["v"] / (true["q"] - 1), rel=0.05)
    assert fitted["p"] == pytest.approx(true["p"], rel=0.2)
    assert fitted["q"] == pytest.approx(true["q"], rel=0.25)


def test_returns_and_fading_engagement_signal_churn(
    sim: SimulatedData, pure: SimulatedData
) -> None:
    with_signal = _history_features(sim).groupby("churned").mean()
    without = _history_features(pure).groupby("churned").mean()
    # Churned customers returned more and engage less, relative to their own level ...
    assert with_signal.loc[True, "return_rate"] > 1.5 * with_signal.loc[False, "return_rate"]
    assert (
        with_signal.loc[True, "relative_engagement"]
        < 0.5 * with_signal.loc[False, "relative_engagement"]
    )
    # ... which is the behaviour signal, not an artefact: without it both are flat.
    assert without.loc[True, "return_rate"] < 1.2 * without.loc[False, "return_rate"]
    assert (
        without.loc[True, "relative_engagement"] > 0.85 * without.loc[False, "relative_engagement"]
    )
    truth = sim.truth
    churned = truth["churned_in_window_90"]
    assert (
        truth.loc[churned, "return_propensity"].mean()
        > truth.loc[~churned, "return_propensity"].mean()
    )


def test_without_behaviour_signal_the_campaign_has_no_effect(pure: SimulatedData) -> None:
    uplift = pure.truth[[f"uplift_{a}" for a in ACTIONS] + ["campaign_true_uplift"]]
    assert (uplift.fillna(0) == 0).all().all()
    camp = pure.campaigns
    diff = (
        camp.loc[camp["treated"], "converted"].mean()
        - camp.loc[~camp["treated"], "converted"].mean()
    )
    assert abs(diff) < 0.03


def test_population_parameters_are_exposed(sim: SimulatedData) -> None:
    params = sim.params
    defaults = SimulationParams()
    assert params["bgnbd"] == defaults.bgnbd()
    assert params["gamma_gamma"] == defaults.gamma_gamma()
    assert params["as_of"] == "2025-01-01" and params["horizon_days"] == 365
    assert params["n_customers"] == N and params["seed"] == 7
    json.dumps(params)
    assert sim.as_of == AS_OF and sim.horizon_days == 365


def test_custom_parameters_change_the_population() -> None:
    faster = simulate(3_000, 1, params=SimulationParams(r=2.0, alpha=20.0))
    assert faster.truth["lambda_per_day"].mean() == pytest.approx(0.1, rel=0.1)
    assert faster.params["bgnbd"]["r"] == 2.0


# ----------------------------------------------------------------- files


def test_write_and_read_back(tmp_path: Path) -> None:
    data = simulate(1_500, seed=5)
    paths = data.write(tmp_path / "sim")
    assert set(paths) == {"transactions", "customers", "events", "campaigns", "truth", "params"}
    assert all(p.exists() for p in paths.values())
    read = {
        name: pd.read_csv(paths[name])
        for name in ("transactions", "customers", "events", "campaigns")
    }
    tables = validate_tables(
        read["transactions"], read["customers"], read["events"], read["campaigns"]
    )
    assert len(tables.transactions) == len(data.transactions)
    assert tables.customers is not None
    assert tables.customers["consent_push"].sum() == data.customers["consent_push"].sum()
    truth = pd.read_csv(paths["truth"])
    assert (
        len(truth) == 1_500
        and truth["death_date"].isna().sum() == data.truth["death_date"].isna().sum()
    )
    assert json.loads(paths["params"].read_text())["seed"] == 5
    again = write_simulation(tmp_path / "again", 1_500, seed=5)
    assert again["transactions"].read_text() == paths["transactions"].read_text()


def test_write_parquet_keeps_types(tmp_path: Path) -> None:
    data = simulate(500, seed=2)
    paths = data.write(tmp_path, fmt="parquet")
    assert paths["events"].suffix == ".parquet"
    for name in ("transactions", "customers", "events", "campaigns", "truth"):
        pd.testing.assert_frame_equal(pd.read_parquet(paths[name]), getattr(data, name))
    with pytest.raises(ValueError, match="fmt"):
        data.write(tmp_path, fmt="xlsx")  # type: ignore[arg-type]


def test_history_drops_everything_from_the_cut_off(sim: SimulatedData) -> None:
    past = sim.history()
    assert past.transactions["order_date"].max() < sim.as_of
    assert past.events["event_date"].max() < sim.as_of
    assert len(past.campaigns) == len(sim.campaigns)
    earlier = sim.history("2024-06-01")
    assert len(earlier.campaigns) == 0
    # A campaign whose 30-day window is still open at the cut-off would leak.
    assert len(sim.history(sim.as_of - 120 * DAY + 29 * DAY).campaigns) == 0
    assert len(sim.history(sim.as_of - 120 * DAY + 30 * DAY).campaigns) == len(sim.campaigns)
    assert earlier.truth is sim.truth
