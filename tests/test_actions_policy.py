"""Action catalogue, control group, contact history and the next-best-action policy.

The guardrail tests are property tests: for any customers, uplifts, contact
history and budget hypothesis can make up, no recommendation may break consent,
cool-down, cap, recent-purchase or budget rules. The policy-vs-baselines test runs
on simulated data whose true uplift is known.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.actions import (
    DECISION_COLUMNS,
    NO_ACTION,
    ActionCatalogue,
    NextBestActionPolicy,
    UpliftModel,
    assign_control,
    contact_summary,
    control_hash,
    default_catalogue,
    uplift_training_set,
)
from churnml.actions.catalogue import default_catalogue_text
from churnml.config import PolicyConfig
from churnml.datasets import SimulatedData, simulate
from churnml.errors import ConfigError
from churnml.segments import SEGMENTS, ValueTiers, assign_segments

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = default_catalogue()
TIERS = ("bronze", "silver", "gold", "platinum")
AS_OF = pd.Timestamp("2025-01-01")


# ----------------------------------------------------------------------------- catalogue


def test_training_catalogue_is_identical_to_bundled_copy() -> None:
    assert (REPO / "training" / "configs" / "actions.yaml").read_text() == default_catalogue_text()


def test_default_catalogue_has_the_documented_actions() -> None:
    assert CATALOGUE.ids == [
        "no_action",
        "email_reminder",
        "email_discount",
        "sms_reminder",
        "push_offer",
        "vip_call",
    ]
    assert {a.channel for a in CATALOGUE} == {"none", "email", "sms", "push", "call"}
    assert CATALOGUE.get("email_discount").has_offer
    assert CATALOGUE.get("vip_call").consent_column == "consent_call"
    assert ActionCatalogue.from_yaml(REPO / "training" / "configs" / "actions.yaml") == CATALOGUE
    assert ActionCatalogue.from_dict(json.loads(json.dumps(CATALOGUE.to_dict()))) == CATALOGUE


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("actions: [{id: email, channel: email}]", "no_action"),
        ("actions: [{id: no_action, channel: none}, {id: a, channel: fax}]", "channel"),
        (
            "actions: [{id: no_action, channel: none}, {id: a, channel: sms}, {id: a, channel: sms}]",
            "duplicate",
        ),
        (
            "actions: [{id: no_action, channel: none}, {id: a, channel: sms, unit_cost: -1}]",
            "unit_cost",
        ),
        ("actions: [{id: no_action, channel: none}, {id: control, channel: sms}]", "reserved"),
        ("actions: [{id: no_action, channel: none, unit_cost: 1}]", "cannot cost"),
        ("actions: [{id: no_action, channel: none}, {id: a, channel: sms, colour: red}]", "colour"),
        ("actions: [", "YAML"),
    ],
)
def test_bad_catalogues_raise_readable_config_errors(yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ActionCatalogue.from_yaml_text(yaml_text)


def test_missing_catalogue_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ActionCatalogue.from_yaml(tmp_path / "nope.yaml")


# ----------------------------------------------------------------------------- control group


def test_control_hash_is_pinned_and_follows_the_documented_algorithm() -> None:
    """A changed hash would silently reshuffle running control groups: pin it."""
    ids = ["C0000001", "C0000002", "C0000003", "C0000004"]
    assert [round(float(x), 4) for x in control_hash(ids, "winback")] == [
        0.144,
        0.7841,
        0.4415,
        0.8644,
    ]
    key = hashlib.blake2b(b"winback", digest_size=32).digest()
    for cid, value in zip(ids, control_hash(ids, "winback"), strict=True):
        raw = int.from_bytes(
            hashlib.blake2b(cid.encode(), digest_size=8, key=key).digest(), "little"
        )
        assert value == (raw >> 11) / 2**53
    first_20 = [f"C{i:07d}" for i in range(1, 21)]
    assert np.flatnonzero(assign_control(first_20, "winback", 0.1)).tolist() == [7, 13]
    assert control_hash(["123"], "s")[0] == control_hash([123], "s")[0]
    assert control_hash(["a"], "s1")[0] != control_hash(["a"], "s2")[0]


IDS_100K = [f"C{i:07d}" for i in range(100_000)]


@settings(max_examples=8, deadline=None)
@given(share=st.floats(0.01, 0.5), salt=st.text(min_size=1, max_size=30))
def test_control_share_within_one_point_on_100k_customers(share: float, salt: str) -> None:
    flags = assign_control(IDS_100K, salt, share)
    assert abs(flags.mean() - share) <= 0.01


@settings(max_examples=25, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=200, unique=True),
    share=st.floats(0.0, 0.99),
    salt=st.text(max_size=20),
    seed=st.integers(0, 2**32 - 1),
)
def test_control_membership_is_stable_per_customer(
    ids: list[str], share: float, salt: str, seed: int
) -> None:
    first = dict(zip(ids, assign_control(ids, salt, share), strict=True))
    rng = np.random.default_rng(seed)
    subset = [ids[i] for i in rng.permutation(len(ids))[: max(1, len(ids) // 2)]]
    again = dict(zip(subset, assign_control(subset, salt, share), strict=True))
    assert all(first[c] == again[c] for c in subset)


def test_control_share_zero_and_invalid() -> None:
    assert not assign_control(["a", "b"], "s", 0.0).any()
    with pytest.raises(ValueError):
        assign_control(["a"], "s", 1.0)


# ----------------------------------------------------------------------------- history


def test_contact_summary_counts_only_sent_contacts_strictly_before_as_of() -> None:
    campaigns = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "campaign_id": ["k1", "k2", "k3", "k4", "k1"],
            "sent_date": pd.to_datetime(
                ["2024-12-01", "2024-12-25", "2025-01-01", "2024-12-30", "2024-10-01"]
            ),
            "action": [
                "email_reminder",
                "email_discount",
                "email_reminder",
                "sms_reminder",
                "email_reminder",
            ],
            "treated": [True, True, True, False, True],
            "converted": [False] * 5,
            "revenue": [0.0] * 5,
        }
    )
    summary = contact_summary(campaigns, AS_OF, CATALOGUE).set_index(["customer_id", "action"])
    # e-mail actions share the e-mail history: last e-mail 7 days ago, 2 within 31+ days
    assert summary.loc[("a", "email_reminder"), "days_since_last_contact"] == 7
    assert summary.loc[("a", "email_discount"), "days_since_last_contact"] == 7
    assert summary.loc[("a", "email_reminder"), "contacts_in_window"] == 1  # 30-day window
    # the control row (treated=False) and the contact on as_of itself do not count
    assert ("a", "sms_reminder") not in summary.index
    assert summary.loc[("b", "email_reminder"), "contacts_in_window"] == 0


# ----------------------------------------------------------------------------- policy basics


def _scores(n: int = 6, **overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "churn_probability": 0.6,
            "p_alive": 0.0,  # surely gone: a return is worth 0.3 x 50 + 200 = 215
            "value_if_retained": 200.0,
            "expected_order_value": 50.0,
            "segment": "at_risk",
            "value_tier": "gold",
            "recency_days": 100,
            "consent_email": True,
            "consent_sms": True,
            "consent_push": True,
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def _uplift(scores: pd.DataFrame, **values: float) -> pd.DataFrame:
    base = {a.id: 0.0 for a in CATALOGUE.contact_actions}
    base.update(values)
    out = pd.DataFrame({k: np.full(len(scores), v) for k, v in base.items()}, index=scores.index)
    out["uplift_source"] = "learned"
    return out


NO_CONTROL = PolicyConfig(control_share=0.0)


def test_decision_table_shape_and_prior_flag() -> None:
    scores = _scores()
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores)
    assert list(out.columns) == list(DECISION_COLUMNS)
    assert out.index.equals(scores.index)
    # without any uplift model every effect is the catalogue's prior, and the output says so
    assert (out["uplift_source"] == "prior").all()
    # priors: sms 0.003 x 200 - 0.08 beats reminder 0.002 x 200 - 0.05 and any offer
    assert (out["next_best_action"] == "sms_reminder").all()
    assert out["action_reason"].str.contains("(prior)", regex=False).all()


def test_best_action_by_expected_incremental_value() -> None:
    scores = _scores()
    up = _uplift(scores, email_reminder=0.02, sms_reminder=0.05, email_discount=0.01)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert (out["next_best_action"] == "sms_reminder").all()
    assert (out["action_channel"] == "sms").all()
    assert out["expected_incremental_value"].iloc[0] == pytest.approx(0.05 * 215 - 0.08)
    assert (out["uplift_source"] == "learned").all()


def test_offer_cost_enters_the_value() -> None:
    scores = _scores(1)
    up = _uplift(scores, email_discount=0.05)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    redeem = (1 - 0.6) + 0.05
    expected = 0.05 * 215 - 0.05 - 0.15 * 50 * redeem
    assert out["expected_incremental_value"].iloc[0] == pytest.approx(expected)
    assert out["expected_cost"].iloc[0] == pytest.approx(0.05 + 0.15 * 50 * redeem)


def test_no_action_when_nothing_pays_off() -> None:
    scores = _scores()
    up = _uplift(scores, email_reminder=-0.01, sms_reminder=0.0001)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert (out["next_best_action"] == NO_ACTION).all()
    assert (out["expected_incremental_value"] == 0).all()
    assert out["action_reason"].str.startswith("no action pays off").all()


def test_guardrails_consent_recent_purchase_and_missing_call_consent() -> None:
    scores = _scores(3, segment="vip", value_tier="platinum")
    scores["consent_email"] = [False, True, True]
    scores["recency_days"] = [100, 100, 5]
    up = _uplift(scores, email_discount=0.2, vip_call=0.5, email_reminder=0.01)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    # no consent_call column: no call, however large its uplift
    assert (out["next_best_action"] != "vip_call").all()
    assert out["next_best_action"].iloc[0] != "email_reminder"  # no e-mail consent
    assert out["next_best_action"].iloc[1] == "email_reminder"  # discount not eligible for vip
    scores["consent_call"] = True
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert (out["next_best_action"] != "vip_call").all()  # calls are for customers at risk
    scores["segment"] = "at_risk"
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert (out["next_best_action"] == "vip_call").all()
    scores["segment"] = "lapsed"
    scores["consent_call"] = False
    scores["consent_sms"] = False
    scores["consent_push"] = False
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert list(out["next_best_action"]) == [NO_ACTION, "email_discount", "email_reminder"]
    # every action is open to lapsed customers; none has consent
    assert out["action_reason"].iloc[0] == "no eligible action: no consent"


def test_consent_is_read_strictly() -> None:
    scores = _scores(5, consent_sms=False, consent_push=False)
    scores["consent_email"] = pd.Series(["false", "yes", None, "1", "0"], dtype=object)
    up = _uplift(scores, email_reminder=0.1)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert list(out["next_best_action"] != NO_ACTION) == [False, True, False, True, False]


def test_a_learned_incremental_revenue_replaces_uplift_times_order_value() -> None:
    """value = margin x incremental revenue + uplift x (1 - P(alive)) x value_if_retained - costs."""
    scores = _scores(2, consent_sms=False, consent_push=False, p_alive=0.5)
    up = _uplift(scores, email_reminder=0.1)
    up["revenue:email_reminder"] = [40.0, 0.0]
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL, margin=0.3).decide(scores, up)
    revived = 0.1 * 0.5 * 200.0
    assert out["expected_incremental_value"].tolist() == pytest.approx(
        [0.3 * 40.0 + revived - 0.05, revived - 0.05]
    )
    assert out["action_reason"].iloc[0].count("+40.00 revenue (learned)") == 1
    # without the revenue column: uplift x (margin x order value + gone x value_if_retained)
    plain = NextBestActionPolicy(CATALOGUE, NO_CONTROL, margin=0.3).decide(
        scores, up.drop(columns="revenue:email_reminder")
    )
    assert plain["expected_incremental_value"].iloc[1] == pytest.approx(
        0.1 * (0.3 * 50.0 + 0.5 * 200.0) - 0.05
    )
    assert "revenue" not in plain["action_reason"].iloc[0]


def test_budget_is_allocated_by_value_per_cost() -> None:
    scores = _scores(3, consent_sms=False, consent_push=False)
    scores["value_if_retained"] = [100.0, 1000.0, 300.0]
    up = _uplift(scores, email_reminder=0.1)  # cost 0.05 each: value 11.45, 101.45, 31.45
    out = NextBestActionPolicy(CATALOGUE, PolicyConfig(control_share=0.0, budget=0.1)).decide(
        scores, up
    )
    assert list(out["next_best_action"]) == [NO_ACTION, "email_reminder", "email_reminder"]
    assert out["action_reason"].iloc[0].startswith("budget exhausted")
    out = NextBestActionPolicy(CATALOGUE, PolicyConfig(control_share=0.0, max_contacts=1)).decide(
        scores, up
    )
    assert list(out["next_best_action"]) == [NO_ACTION, "email_reminder", NO_ACTION]


def test_control_group_gets_nothing_but_keeps_its_intended_action() -> None:
    scores = _scores(2000)
    cfg = PolicyConfig(control_share=0.2, campaign_salt="test")
    out = NextBestActionPolicy(CATALOGUE, cfg).decide(scores, _uplift(scores, email_reminder=0.05))
    control = out["control_group"]
    assert 0.15 < control.mean() < 0.25
    assert (out.loc[control, "next_best_action"] == NO_ACTION).all()
    assert (out.loc[control, "intended_action"] == "email_reminder").all()
    assert (out.loc[~control, "next_best_action"] == "email_reminder").all()
    assert out.loc[control, "action_reason"].str.startswith("control group").all()
    # deterministic across runs
    again = NextBestActionPolicy(CATALOGUE, cfg).decide(
        scores, _uplift(scores, email_reminder=0.05)
    )
    pd.testing.assert_frame_equal(out, again)


def test_uplift_aligned_by_customer_id_and_missing_actions_use_priors() -> None:
    scores = _scores(3)
    up = pd.DataFrame({"customer_id": ["c2", "c0", "c1"], "sms_reminder": [0.3, 0.0, 0.0]})
    up["uplift_source"] = "learned"
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(scores, up)
    assert list(out["next_best_action"]) == ["email_reminder", "email_reminder", "sms_reminder"]
    assert list(out["uplift_source"]) == ["prior", "prior", "learned"]


def test_prior_uplift_model_says_it_is_a_prior() -> None:
    model = UpliftModel.prior(CATALOGUE.prior_uplifts())
    x = pd.DataFrame({"f": [1.0, 2.0]})
    pred = model.predict(x)
    assert (pred["uplift_source"] == "prior").all()
    assert pred["vip_call"].tolist() == [0.01, 0.01]
    restored = UpliftModel.from_dict(json.loads(json.dumps(model.to_dict())))
    pd.testing.assert_frame_equal(restored.predict(x), pred)
    out = NextBestActionPolicy(CATALOGUE, NO_CONTROL).decide(_scores(2), pred)
    assert (out["uplift_source"] == "prior").all()


# ----------------------------------------------------------------------------- properties

CONTACT_ACTIONS = [a.id for a in CATALOGUE.contact_actions]


@st.composite
def policy_inputs(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PolicyConfig]:
    n = draw(st.integers(1, 40))
    flag = st.lists(st.booleans(), min_size=n, max_size=n)
    scores = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "churn_probability": draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)),
            "p_alive": draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)),
            "value_if_retained": draw(st.lists(st.floats(0, 2000), min_size=n, max_size=n)),
            "expected_order_value": draw(st.lists(st.floats(0, 300), min_size=n, max_size=n)),
            "segment": draw(st.lists(st.sampled_from(SEGMENTS), min_size=n, max_size=n)),
            "value_tier": draw(st.lists(st.sampled_from(TIERS), min_size=n, max_size=n)),
            "recency_days": draw(st.lists(st.integers(0, 400), min_size=n, max_size=n)),
            "consent_email": draw(flag),
            "consent_sms": draw(flag),
            "consent_push": draw(flag),
        }
    )
    if draw(st.booleans()):
        scores["consent_call"] = draw(flag)
    uplift = pd.DataFrame(
        {a: draw(st.lists(st.floats(-0.1, 0.6), min_size=n, max_size=n)) for a in CONTACT_ACTIONS}
    )
    uplift["uplift_source"] = "learned"
    if draw(st.booleans()):
        uplift = uplift.drop(columns=draw(st.sampled_from(CONTACT_ACTIONS)))
    # Contacts concentrated on a few customers and recent days, so that caps and
    # cool-downs actually bind.
    k = draw(st.integers(0, 60))
    who = st.integers(0, min(n - 1, draw(st.integers(0, 5))))
    campaigns = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in draw(st.lists(who, min_size=k, max_size=k))],
            "campaign_id": "k",
            "sent_date": pd.to_datetime(
                [
                    AS_OF - pd.Timedelta(days=d)
                    for d in draw(st.lists(st.integers(-3, 45), min_size=k, max_size=k))
                ]
            ),
            "action": draw(st.lists(st.sampled_from(CONTACT_ACTIONS), min_size=k, max_size=k)),
            "treated": np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)), dtype=bool),
            "converted": False,
            "revenue": 0.0,
        }
    )
    config = PolicyConfig(
        control_share=draw(st.floats(0, 0.5)),
        campaign_salt=draw(st.text(max_size=8)),
        budget=draw(st.none() | st.floats(0.01, 200)),
        max_contacts=draw(st.none() | st.integers(1, 30)),
        recent_purchase_days=draw(st.integers(0, 60)),
    )
    return scores, uplift, campaigns, config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_inputs())
def test_no_recommendation_ever_breaks_a_guardrail_or_the_budget(
    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PolicyConfig],
) -> None:
    scores, uplift, campaigns, config = inputs
    out = NextBestActionPolicy(CATALOGUE, config).decide(scores, uplift, campaigns, as_of=AS_OF)

    assert out.index.equals(scores.index)
    assert out["action_reason"].map(lambda r: isinstance(r, str) and len(r) > 0).all()
    contacted = out["next_best_action"] != NO_ACTION
    assert not (contacted & out["control_group"]).any()
    if config.budget is not None:
        assert out.loc[contacted, "expected_cost"].sum() <= config.budget + 1e-9
    if config.max_contacts is not None:
        assert contacted.sum() <= config.max_contacts

    sent = campaigns[campaigns["treated"] & (campaigns["sent_date"] < AS_OF)]
    channel_of = CATALOGUE.channel_of()
    sent = sent.assign(
        channel=sent["action"].map(channel_of), days=(AS_OF - sent["sent_date"]).dt.days
    )
    for i in np.flatnonzero(contacted.to_numpy()):
        row, decision = scores.iloc[i], out.iloc[i]
        action = CATALOGUE.get(decision["next_best_action"])
        assert decision["action_channel"] == action.channel
        assert decision["expected_incremental_value"] > 0
        assert bool(row.get(f"consent_{action.channel}", False)), "contact without consent"
        if action.eligible_segments is not None:
            assert row["segment"] in action.eligible_segments
        if action.eligible_value_tiers is not None:
            assert row["value_tier"] in action.eligible_value_tiers
        if action.has_offer:
            assert row["recency_days"] > config.recent_purchase_days, "offer right after a purchase"
        mine = sent[
            (sent["customer_id"] == row["customer_id"]) & (sent["channel"] == action.channel)
        ]
        assert (mine["days"] >= action.cooldown_days).all(), "contact inside the cool-down"
        if action.max_contacts is not None:
            assert (mine["days"] <= action.cap_window_days).sum() < action.max_contacts, (
                "over the cap"
            )


# ----------------------------------------------------------------------------- simulated truth


def _features_at(data: SimulatedData, as_of: pd.Timestamp) -> pd.DataFrame:
    """Small point-in-time features for the test (strictly before ``as_of``)."""
    tx = data.transactions
    tx = tx[(tx["order_date"] < as_of) & (tx["amount"] > 0)]
    g = tx.assign(day=tx["order_date"].dt.normalize()).groupby("customer_id")
    f = pd.DataFrame(
        {
            "recency_days": (as_of - g["order_date"].max()).dt.days,
            "tenure_days": (as_of - g["order_date"].min()).dt.days,
            "n_orders": g["day"].nunique(),
            "mean_amount": g["amount"].mean(),
        }
    )
    recent = tx[tx["order_date"] >= as_of - pd.Timedelta(days=90)].groupby("customer_id")
    f["orders_90"] = recent.size()
    f["spend_90"] = recent["amount"].sum()
    ev = data.events
    ev = ev[(ev["event_date"] < as_of) & (ev["event_date"] >= as_of - pd.Timedelta(days=60))]
    f = f.join(
        ev.groupby(["customer_id", "event_type"]).size().unstack(fill_value=0).add_prefix("n60_")
    )
    cust = data.customers.set_index("customer_id")
    f = f.join(cust[["consent_email", "consent_sms", "consent_push", "app_user"]].astype(float))
    counts = [c for c in f.columns if c.startswith("n60_")] + ["orders_90", "spend_90"]
    return f.fillna(dict.fromkeys(counts, 0.0))


@pytest.fixture(scope="module")
def simulated() -> SimulatedData:
    return simulate(20_000, seed=3)


def _true_value(
    actions: np.ndarray, scores: pd.DataFrame, truth: pd.DataFrame, p_natural: np.ndarray
) -> float:
    """True incremental value: true uplift x value minus unit cost and the offers really redeemed."""
    total = 0.0
    for a in CATALOGUE.contact_actions:
        m = actions == a.id
        u = truth[f"uplift_{a.id}"].to_numpy()[m]
        redeemed = a.offer_cost * scores["expected_order_value"].to_numpy()[m] * (p_natural[m] + u)
        total += float(np.sum(u * scores["clv"].to_numpy()[m] - a.unit_cost - redeemed))
    return total


def _baseline(
    order: np.ndarray, scores: pd.DataFrame, budget: float, recent_days: int
) -> np.ndarray:
    """Contact customers in ``order`` with the catalogue's default (highest-prior) allowed action."""
    n = len(scores)
    action = np.full(n, NO_ACTION, dtype=object)
    best = np.full(n, -np.inf)
    p_buy = 1 - scores["churn_probability"].to_numpy()
    cost = np.zeros(n)
    for a in CATALOGUE.contact_actions:
        col = a.consent_column
        ok = scores[col].to_numpy(dtype=bool).copy() if col in scores else np.zeros(n, dtype=bool)
        if a.eligible_segments is not None:
            ok &= scores["segment"].isin(a.eligible_segments).to_numpy()
        if a.eligible_value_tiers is not None:
            ok &= scores["value_tier"].isin(a.eligible_value_tiers).to_numpy()
        if a.has_offer:
            ok &= scores["recency_days"].to_numpy() > recent_days
        better = ok & (a.prior_uplift > best)
        action[better], best[better] = a.id, a.prior_uplift
        c = a.unit_cost + a.offer_cost * scores["expected_order_value"].to_numpy() * np.clip(
            p_buy + a.prior_uplift, 0, 1
        )
        cost[better] = c[better]
    chosen = np.full(n, NO_ACTION, dtype=object)
    spent = 0.0
    for i in order:
        if action[i] != NO_ACTION and spent + cost[i] <= budget:
            chosen[i] = action[i]
            spent += cost[i]
    return chosen


def test_policy_beats_churn_risk_and_contact_everyone_at_the_same_budget(
    simulated: SimulatedData,
) -> None:
    """Uplift learned from the simulated past campaign, value = CLV if retained, truth as judge."""
    data = simulated
    X, action, y = uplift_training_set(data.campaigns, lambda d: _features_at(data, d))
    model = UpliftModel(random_state=0).fit(X, action, y)

    feats = _features_at(data, data.as_of)
    truth = data.truth.set_index("customer_id").loc[feats.index]
    lam = truth["lambda_per_day"].to_numpy()
    alive = truth["alive_at_as_of"].to_numpy(dtype=bool)
    p_natural = alive * (1 - np.exp(-30 * lam))  # natural 30-day purchase probability
    scores = pd.DataFrame({"customer_id": feats.index.to_numpy()})
    scores["churn_probability"] = 1 - alive * (1 - np.exp(-90 * lam))
    scores["clv"] = (
        0.3 * truth["mean_order_value"].to_numpy() * lam * 365
    )  # margin x a year's spend
    scores["value_if_retained"] = scores["clv"]
    scores["p_alive"] = 0.0
    scores["expected_order_value"] = truth["mean_order_value"].to_numpy()
    for col in ("recency_days", "tenure_days", "n_orders"):
        scores[col] = feats[col].to_numpy()
    scores["value_tier"] = ValueTiers().fit_transform(scores["clv"]).to_numpy()
    scores["segment"] = assign_segments(scores).to_numpy()
    customers = data.customers.set_index("customer_id").loc[feats.index]
    for col in ("consent_email", "consent_sms", "consent_push"):
        scores[col] = customers[col].to_numpy(dtype=bool)

    uplift = model.predict(feats[X.columns]).reset_index(drop=True)
    rng = np.random.default_rng(0)
    for budget in (300.0, 1500.0):
        cfg = PolicyConfig(budget=budget, control_share=0.0)
        decisions = NextBestActionPolicy(CATALOGUE, cfg).decide(scores, uplift)
        spent = float(decisions["expected_cost"].sum())
        assert spent <= budget + 1e-9
        policy_value = _true_value(
            decisions["next_best_action"].to_numpy(), scores, truth, p_natural
        )
        by_risk = np.argsort(-scores["churn_probability"].to_numpy(), kind="stable")
        risk_value = _true_value(_baseline(by_risk, scores, spent, 14), scores, truth, p_natural)
        everyone = rng.permutation(len(scores))
        all_value = _true_value(_baseline(everyone, scores, spent, 14), scores, truth, p_natural)
        assert policy_value > 1.5 * max(risk_value, all_value, 0.0), (
            budget,
            policy_value,
            risk_value,
            all_value,
        )


# ----------------------------------------------------------------------------- fast paths
# The policy reads raw campaigns straight into arrays, converts plain NumPy columns
# without pandas' parsers and scores small tables on one LightGBM thread, so that one
# customer per HTTP request costs little. These tests pin each shortcut to the
# general path it stands in for, on random inputs, so that they cannot drift apart.


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_inputs(), st.booleans())
def test_one_customer_at_a_time_decides_as_the_whole_batch(
    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PolicyConfig], keyed: bool
) -> None:
    """Without a budget every decision is the customer's own: a batch of one must agree."""
    scores, uplift, campaigns, config = inputs
    config = config.model_copy(update={"budget": None, "max_contacts": None})
    if keyed:
        uplift = uplift.assign(customer_id=scores["customer_id"]).iloc[::-1]
    policy = NextBestActionPolicy(CATALOGUE, config)
    batch = policy.decide(scores, uplift, campaigns, as_of=AS_OF)
    for i in range(len(scores)):
        one = scores.iloc[[i]]
        mine = campaigns[campaigns["customer_id"] == one["customer_id"].iloc[0]]
        up = uplift if keyed else uplift.iloc[[i]]
        pd.testing.assert_frame_equal(policy.decide(one, up, mine, as_of=AS_OF), batch.iloc[[i]])


def test_text_and_nullable_columns_decide_as_plain_numbers() -> None:
    """Plain NumPy columns skip ``pd.to_numeric``; other dtypes go through it, same result."""
    rng = np.random.default_rng(1)
    scores = _scores(50)
    scores["value_if_retained"] = rng.uniform(0, 500, 50)
    scores["recency_days"] = rng.integers(0, 40, 50)
    scores["consent_sms"] = rng.random(50) < 0.5
    up = _uplift(scores, email_discount=0.04, sms_reminder=0.02)
    up["email_discount"] = rng.uniform(-0.05, 0.1, 50)
    policy = NextBestActionPolicy(CATALOGUE, PolicyConfig(control_share=0.2))
    plain = policy.decide(scores, up)
    other = scores.assign(
        value_if_retained=scores["value_if_retained"].astype(object),
        recency_days=scores["recency_days"].astype("Int64"),
        consent_sms=scores["consent_sms"].astype("boolean"),
        segment=scores["segment"].astype("category"),
    )
    other_up = up.assign(email_discount=up["email_discount"].astype(str))
    pd.testing.assert_frame_equal(policy.decide(other, other_up), plain)


def test_past_contacts_with_time_zones_count_days_as_naive_dates() -> None:
    """Naive dates use NumPy day arithmetic, zoned ones pandas': in UTC both agree."""
    rng = np.random.default_rng(2)
    k = 200
    campaigns = pd.DataFrame(
        {
            "customer_id": rng.choice(["a", "b", "c"], k),
            "sent_date": AS_OF - pd.to_timedelta(rng.integers(-48, 24 * 40, k), unit="h"),
            "action": rng.choice([*CONTACT_ACTIONS, "unknown_action"], k),
            "treated": rng.random(k) < 0.8,
        }
    )
    naive = contact_summary(campaigns, AS_OF, CATALOGUE)
    zoned = campaigns.assign(sent_date=campaigns["sent_date"].dt.tz_localize("UTC"))
    pd.testing.assert_frame_equal(
        contact_summary(zoned, AS_OF.tz_localize("UTC"), CATALOGUE), naive
    )
    assert len(naive) > 0


def test_control_hash_of_strings_equals_that_of_any_iterable() -> None:
    ids = ["C0000001", "x", "", "ü", "123"]
    expected = control_hash(ids, "winback")
    for same in (np.array(ids, dtype=object), pd.Series(ids), tuple(ids), iter(ids)):
        assert np.array_equal(control_hash(same, "winback"), expected)
    mixed = pd.Series([123, 4.5, None], dtype=object)
    assert np.array_equal(control_hash(mixed, "s"), control_hash(["123", "4.5", "None"], "s"))
    assert np.array_equal(control_hash(mixed.tolist(), "s"), control_hash(mixed, "s"))


@pytest.fixture(scope="module")
def small_uplift_model() -> tuple[UpliftModel, pd.DataFrame]:
    rng = np.random.default_rng(0)
    k = 3000
    X = pd.DataFrame(
        {
            "spend": rng.gamma(2.0, 50.0, k),
            "orders": rng.integers(0, 10, k),
            "app_user": rng.random(k) < 0.4,
            "region": rng.choice(["north", "south", "east"], k),
        }
    )
    arm = rng.choice(["control", "email_reminder", "sms_reminder"], k)
    p = 0.1 + 0.1 * (arm != "control") * X["app_user"] + 0.001 * X["spend"].clip(0, 100)
    y = pd.Series((rng.random(k) < p).astype(int))
    params = {"n_estimators": 20, "min_child_samples": 50, "effect_min_child_samples": 50}
    return UpliftModel(**params).fit(X, pd.Series(arm), y), X


def test_uplift_of_one_row_equals_its_row_in_a_batch(
    small_uplift_model: tuple[UpliftModel, pd.DataFrame],
) -> None:
    """Few rows are scored on one LightGBM thread, many on all: the numbers must not move."""
    model, X = small_uplift_model
    batch = model.predict(X)
    for i in (0, 1, 17, 2999):
        pd.testing.assert_frame_equal(model.predict(X.iloc[[i]]), batch.iloc[[i]], check_exact=True)
    pd.testing.assert_frame_equal(model.predict(X.iloc[:5]), batch.iloc[:5], check_exact=True)


def test_uplift_encodes_plain_numbers_like_to_numeric(
    small_uplift_model: tuple[UpliftModel, pd.DataFrame],
) -> None:
    """NumPy number columns are converted in one block; text and nullable ones one by one."""
    model, X = small_uplift_model
    X = X.iloc[:300]
    other = X.assign(
        spend=X["spend"].astype(object),
        orders=X["orders"].astype("Int64"),
        app_user=X["app_user"].astype(object),
    )
    pd.testing.assert_frame_equal(model.predict(other), model.predict(X), check_exact=True)
    np.testing.assert_array_equal(model._encode(other), model._encode(X))


def test_importing_the_actions_does_not_load_matplotlib_or_lightgbm() -> None:
    """Plots import Matplotlib inside their functions; the uplift model (a scikit-learn
    estimator, so SciPy comes with it) loads LightGBM only when it fits or predicts."""
    code = (
        "import sys\n"
        "import churnml.actions as actions\n"
        "from churnml.actions import NextBestActionPolicy, UpliftModel, default_catalogue\n"
        "heavy = [m for m in ('matplotlib', 'lightgbm') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "missing = [n for n in actions.__all__ if getattr(actions, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert set(actions.__all__) <= set(dir(actions))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_estimator_follows_the_scikit_learn_parameter_contract() -> None:
    """One base for LTV, churn and uplift: get_params, set_params and clone work alike."""
    from sklearn.base import clone

    from churnml.models import ChurnModel, LTVModel

    for model, change in (
        (LTVModel(), {"penalizer_coef": 0.01}),
        (ChurnModel(), {"n_jobs": 1}),
        (UpliftModel(outcome="revenue"), {"n_jobs": 2, "learner": "x"}),
    ):
        assert model.set_params(**change) is model
        assert {k: model.get_params()[k] for k in change} == change
        twin = clone(model)
        assert twin is not model and twin.get_params() == model.get_params()
        with pytest.raises(ValueError, match="Invalid parameter"):
            model.set_params(not_a_parameter=1)
