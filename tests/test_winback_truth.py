"""The win-back policy judged by the simulator's truth (docs/benchmarks.md has the figures).

Each scenario trains what ``churnml train`` trains for the policy (LTV before
``as_of``, uplift with its hold-out trust check on the past randomised campaign)
and compares, at the same number of contacts, the policy with "top churn risk",
"random" and the oracle (:mod:`churnml.evaluation.policy_study`). 20,000 customers,
a campaign of 1,000 contacts (5 % of the base).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.datasets.simulator import ACTIONS, SimulationParams, simulate
from churnml.evaluation.policy_study import PolicyStudy, prepare_study

N_CUSTOMERS = 20_000
N_CONTACTS = 1_000


def _study(scenario: str) -> PolicyStudy:
    params = getattr(SimulationParams, scenario)()
    return prepare_study(simulate(N_CUSTOMERS, seed=0, params=params))


def _show(name: str, report: pd.DataFrame) -> None:
    print(f"\n{name}\n{report.round(3).to_string()}")


@pytest.fixture(scope="module")
def dropouts_only() -> PolicyStudy:
    return _study("dropouts_only")


@pytest.mark.parametrize("scenario", ["dropouts_only", "dropouts_and_actives"])
def test_policy_beats_top_churn_risk_and_random_by_the_truth(
    scenario: str, dropouts_only: PolicyStudy
) -> None:
    study = dropouts_only if scenario == "dropouts_only" else _study(scenario)
    report = study.compare(N_CONTACTS)
    _show(scenario, report)
    value = report["true_value"]
    assert report.loc["policy", "contacts"] == N_CONTACTS
    assert value["policy"] >= 1.15 * value["top_churn_risk"]
    assert value["policy"] > value["random"]
    assert report.loc["policy", "violations"] == 0
    assert 0 < report.loc["policy", "share_of_oracle"] <= 1


def test_contacts_that_hurt_are_not_chosen_where_the_learned_effect_is_negative() -> None:
    study = _study("contacts_hurt")
    report = study.compare(N_CONTACTS)
    _show("contacts_hurt", report)
    assert report.loc["policy", "negative_learned"] == 0
    assert report.loc["policy", "violations"] == 0
    # Contacts do hurt here: random targeting loses money, the policy does not.
    assert report.loc["random", "true_value"] < 0 < report.loc["policy", "true_value"]
    # Here the campaign's revenue shows who gains despite a negative average effect:
    # the revenue effect of some actions is trusted and valued, and the reasons say so.
    assert study.revenue_model is not None
    trusted = [a for a, t in study.revenue_model.trust_.items() if t["verdict"] == "learned"]
    assert trusted and {f"revenue:{a}" for a in trusted} <= set(study.uplift.columns)
    decided = study.policy(N_CONTACTS).decide(
        study.scores, study.uplift, study.campaigns, study.as_of
    )
    assert decided["action_reason"].str.contains(" revenue (learned)", regex=False).any()


def test_where_top_churn_risk_is_right_the_policy_is_not_worse() -> None:
    study = _study("churn_risk_targeting")
    report = study.compare(N_CONTACTS)
    _show("churn_risk_targeting", report)
    assert report.loc["policy", "true_value"] >= 0.95 * report.loc["top_churn_risk", "true_value"]


def test_every_decision_carries_a_readable_reason(dropouts_only: PolicyStudy) -> None:
    decisions = dropouts_only.policy(N_CONTACTS).decide(
        dropouts_only.scores, dropouts_only.uplift, dropouts_only.campaigns, dropouts_only.as_of
    )
    contacted = decisions["next_best_action"] != "no_action"
    assert decisions["action_reason"].str.len().gt(0).all()
    reasons = decisions.loc[contacted, "action_reason"]
    # e.g. "churned 420 days, worth 85 if back; email_discount expected +6.1% return (learned); ..."
    assert reasons.str.match(r"^\w+ \d+ days, worth [\d,]+ if back; \w+ expected [+-]\d").all()
    assert reasons.str.contains("cost ").all()


def test_trust_gate_uses_learned_effects_only_where_they_were_shown(
    dropouts_only: PolicyStudy,
) -> None:
    model = dropouts_only.uplift_model
    verdicts = {a: t["verdict"] for a, t in model.trust_.items()}
    assert set(verdicts.values()) <= {"learned", "prior", "harmful"}
    learned = [a for a, v in verdicts.items() if v == "learned"]
    assert learned  # the campaign's effects are strong enough to be measured
    assert set(dropouts_only.uplift.columns) - {"uplift_source"} == set(learned)
    smallest = min(max(model.trust_[a]["effect"], 0.0) for a in learned)
    priors = model.policy_priors(dropouts_only.catalogue.prior_uplifts())
    assert max(priors.values()) <= smallest + 1e-12


def test_truth_at_send_date_matches_the_campaign_it_describes() -> None:
    """The simulator's per-action truth at the send date agrees with the randomised outcome."""
    sim = simulate(20_000, seed=5, params=SimulationParams.dropouts_and_actives())
    camp = sim.campaigns.merge(sim.truth, on="customer_id")
    treated = camp["treated"].to_numpy()
    idx = np.arange(len(camp))
    actions = camp["action"].to_numpy()
    for kind, outcome in (("uplift_at_send", "converted"), ("revenue_at_send", "revenue")):
        true = np.array(
            [camp[f"{kind}_{a}"].to_numpy()[i] for i, a in zip(idx, actions, strict=True)]
        )
        y = camp[outcome].to_numpy(dtype=float)
        diff = y[treated].mean() - y[~treated].mean()
        se = np.sqrt(y[treated].var() / treated.sum() + y[~treated].var() / (~treated).sum())
        assert abs(diff - true.mean()) < 3.5 * se, (kind, diff, true.mean(), se)
    assert {f"value_at_send_{a}" for a in ACTIONS} <= set(sim.truth.columns)


def test_dropouts_only_scenario_reaches_only_the_gone_and_revives_them() -> None:
    sim = simulate(5_000, seed=2, params=SimulationParams.dropouts_only())
    truth = sim.truth
    alive = truth["alive_at_as_of"].to_numpy()
    for a in ACTIONS:
        assert (truth.loc[alive, f"uplift_{a}"] == 0).all()
        assert (truth[f"value_{a}"] >= 0).all()
    # Revived responders buy again after their response order.
    camp = sim.campaigns
    send = camp["sent_date"].iloc[0]
    dead_then = sim.truth.set_index("customer_id")["death_date"]
    responders = camp.loc[camp["treated"] & camp["converted"], "customer_id"]
    tx = sim.transactions
    later = tx[(tx["order_date"] > send + pd.Timedelta(days=30)) & (tx["amount"] > 0)]
    assert later["customer_id"].isin(responders).any()
    assert dead_then.notna().any()
