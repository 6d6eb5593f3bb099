"""Lift of a finished campaign: recovers the true effect within its CI and closes the loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.actions import (
    NO_ACTION,
    LiftReport,
    NextBestActionPolicy,
    UpliftModel,
    as_campaign_history,
    campaign_outcomes,
    default_catalogue,
    measure_lift,
    uplift_training_set,
)
from churnml.actions.lift import LIFT_COLUMNS, _diff_proportions
from churnml.config import PolicyConfig
from churnml.data import validate_campaigns
from churnml.datasets import SimulatedData, simulate

SENT = pd.Timestamp("2024-06-01")


def _contacts(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "next_best_action": ["email_reminder", NO_ACTION, NO_ACTION, NO_ACTION][:n],
            "intended_action": ["email_reminder", "email_reminder", NO_ACTION, NO_ACTION][:n],
            "control_group": [False, True, False, True][:n],
            "segment": ["lapsed", "lapsed", "active", "active"][:n],
            "action_channel": ["email", "none", "none", "none"][:n],
        }
    )


def test_outcomes_window_refunds_and_planned_contacts_only() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["c0", "c0", "c0", "c1", "c1", "c2"],
            "order_date": pd.to_datetime(
                [
                    "2024-06-01 00:00",
                    "2024-06-30 23:59",
                    "2024-07-01 00:00",
                    "2024-06-05",
                    "2024-05-31",
                    "2024-06-02",
                ],
                format="ISO8601",
            ),
            "amount": [20.0, 10.0, 99.0, -15.0, 50.0, 30.0],
        }
    )
    out = campaign_outcomes(_contacts(), tx, window_days=30, sent_date=SENT).set_index(
        "customer_id"
    )
    # c2, c3 were never meant to be contacted: not part of the comparison
    assert list(out.index) == ["c0", "c1"]
    assert out.loc["c0", "treated"] and not out.loc["c1", "treated"]
    assert out.loc["c0", "converted"] and out.loc["c0", "revenue"] == 30.0  # day 30 is outside
    # a refund is neither a purchase nor negative revenue; orders before the send do not count
    assert not out.loc["c1", "converted"] and out.loc["c1", "revenue"] == 0.0
    assert out.loc["c1", "action"] == "email_reminder"
    with pytest.raises(ValueError, match="sent_date"):
        campaign_outcomes(_contacts(), tx)
    # `churnml score` output carries its cut-off: the send date, unless one is given
    scored = _contacts().assign(as_of="2024-06-01")
    by_as_of = campaign_outcomes(scored, tx, window_days=30).set_index("customer_id")
    assert (by_as_of["sent_date"] == pd.Timestamp("2024-06-01")).all()
    assert by_as_of["revenue"].tolist() == out["revenue"].tolist()
    later = campaign_outcomes(scored, tx, window_days=30, sent_date="2024-06-10")
    assert (later["sent_date"] == pd.Timestamp("2024-06-10")).all()


def test_report_table_markdown_plot_and_history(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    contacts = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "intended_action": rng.choice(["email_reminder", "sms_reminder"], n),
            "control_group": rng.random(n) < 0.3,
            "segment": rng.choice(["lapsed", "at_risk"], n),
            "sent_date": SENT,
        }
    )
    buyers = contacts.sample(120, random_state=1)
    tx = pd.DataFrame(
        {
            "customer_id": buyers["customer_id"],
            "order_date": SENT + pd.Timedelta(days=3),
            "amount": 40.0,
        }
    )
    report = measure_lift(contacts, tx, by=("action", "segment", "region"))
    assert isinstance(report, LiftReport)
    table = report.to_frame()
    assert list(table.columns) == list(LIFT_COLUMNS)
    assert list(table["dimension"]) == ["overall", "action", "action", "segment", "segment"]
    overall = table.iloc[0]
    assert overall["n_treated"] + overall["n_control"] == n
    assert (
        overall["conversion_lift_low"]
        <= overall["conversion_lift"]
        <= overall["conversion_lift_high"]
    )
    assert overall["revenue_lift"] == pytest.approx(40.0 * overall["conversion_lift"])
    md = report.to_markdown()
    assert (
        md.startswith("| group |")
        and "action: sms_reminder" in md
        and md.count("\n") == 2 + len(table)
    )
    png = report.plot(tmp_path / "lift.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    history = report.as_campaign_history("cmp-1")
    pd.testing.assert_frame_equal(history, validate_campaigns(history))
    assert (history["treated"] == ~contacts["control_group"].to_numpy()).all()
    assert history["converted"].sum() == 120


def test_agresti_caffo_interval_has_nominal_coverage() -> None:
    rng = np.random.default_rng(1)
    p_t, p_c, n_t, n_c = 0.08, 0.05, 600, 200
    hits = 0
    reps = 2000
    for _ in range(reps):
        _, lo, hi, _ = _diff_proportions(
            rng.binomial(n_t, p_t), n_t, rng.binomial(n_c, p_c), n_c, 1.96
        )
        hits += lo <= p_t - p_c <= hi
    assert 0.93 <= hits / reps <= 0.97


@pytest.fixture(scope="module")
def simulated() -> SimulatedData:
    return simulate(20_000, seed=11)


def test_lift_on_simulated_campaign_recovers_true_incremental_conversion(
    simulated: SimulatedData,
) -> None:
    data = simulated
    campaigns = data.campaigns
    contacts = campaigns.assign(control_group=~campaigns["treated"])
    report = measure_lift(contacts, data.transactions, window_days=30, by=("action",))
    outcomes = report.outcomes.set_index("customer_id")
    # the outcomes recomputed from transactions agree with the simulator's own record
    recorded = campaigns.set_index("customer_id")
    assert (outcomes["converted"] == recorded.loc[outcomes.index, "converted"]).all()
    assert np.allclose(outcomes["revenue"], recorded.loc[outcomes.index, "revenue"])

    truth = data.truth.set_index("customer_id").loc[
        campaigns["customer_id"], "campaign_true_uplift"
    ]
    true_effect = pd.Series(truth.to_numpy(), index=campaigns["action"].to_numpy())
    table = report.to_frame().set_index(["dimension", "group"])
    overall = table.loc[("overall", "all")]
    assert overall["conversion_lift_low"] <= true_effect.mean() <= overall["conversion_lift_high"]
    for action, effect in true_effect.groupby(level=0):
        row = table.loc[("action", action)]
        assert row["conversion_lift_low"] <= effect.mean() <= row["conversion_lift_high"], action


def test_closing_the_loop_policy_campaign_lift_and_retraining() -> None:
    """Policy decides -> outcomes drawn from a known truth -> lift -> history -> new uplift model."""
    rng = np.random.default_rng(5)
    n = 30_000
    engagement = rng.gamma(2.0, 0.5, n)
    price_sensitive = rng.random(n) < 0.4
    features = pd.DataFrame(
        {"engagement": engagement, "price_sensitive": price_sensitive.astype(float)},
        index=pd.Index([f"c{i:05d}" for i in range(n)], name="customer_id"),
    )
    true_uplift = {
        "email_reminder": 0.04 * engagement / (engagement + 1.0),
        "email_discount": np.where(price_sensitive, 0.10, 0.01),
    }
    p_natural = rng.uniform(0.02, 0.2, n)
    scores = pd.DataFrame(
        {
            "customer_id": features.index.to_numpy(),
            "churn_probability": 0.7,
            "p_alive": 0.3,
            "value_if_retained": rng.lognormal(4.5, 0.5, n) / 0.3,
            "expected_order_value": 40.0,
            "segment": "lapsed",
            "value_tier": "silver",
            "recency_days": 200,
            "consent_email": True,
            "consent_sms": False,
            "consent_push": False,
        }
    )
    uplift = pd.DataFrame(true_uplift)  # an oracle model: the point here is the measurement
    uplift["uplift_source"] = "learned"
    cfg = PolicyConfig(control_share=0.25, campaign_salt="loop-test")
    decisions = NextBestActionPolicy(default_catalogue(), cfg).decide(scores, uplift)
    decisions["segment"] = scores["segment"]
    intended = decisions["intended_action"].to_numpy()
    assert {"email_reminder", "email_discount"} <= set(intended)

    effect = np.select(
        [intended == a for a in true_uplift], [true_uplift[a] for a in true_uplift], default=0.0
    )
    treated = decisions["next_best_action"].to_numpy() != NO_ACTION
    bought = rng.random(n) < p_natural + treated * effect
    transactions = pd.DataFrame(
        {
            "customer_id": scores["customer_id"][bought],
            "order_date": SENT + pd.to_timedelta(rng.integers(0, 30, bought.sum()), unit="D"),
            "amount": 40.0,
        }
    )
    report = measure_lift(decisions, transactions, sent_date=SENT)
    table = report.to_frame().set_index(["dimension", "group"])
    row = table.loc[("overall", "all")]
    assert row["conversion_lift_low"] <= effect.mean() <= row["conversion_lift_high"]
    for action in true_uplift:
        mask = intended == action
        row = table.loc[("action", action)]
        assert row["conversion_lift_low"] <= effect[mask].mean() <= row["conversion_lift_high"]

    history = as_campaign_history(decisions, transactions, "loop-1", sent_date=SENT)
    assert len(history) == (intended != NO_ACTION).sum()
    assert (~history["treated"]).mean() == pytest.approx(0.25, abs=0.01)
    # the next uplift training learns each action's effect where it was tried
    X, action, y = uplift_training_set(history, lambda as_of: features)
    learned = UpliftModel(min_treated=100).fit(X, action, y).predict(features)
    for a in true_uplift:
        mask = intended == a
        row = table.loc[("action", a)]
        assert row["conversion_lift_low"] <= learned[a][mask].mean() <= row["conversion_lift_high"]
