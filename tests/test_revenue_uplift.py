"""Uplift on incremental revenue: recovered where the truth is known, judged, saved, used.

A randomised campaign whose only effect is on customers who had gone: a treated
gone customer buys with probability +20 points, for 30 on average, so the true
incremental revenue is 6 for them and 0 for everyone else.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnml.actions import UpliftModel
from churnml.actions.columns import REVENUE_PREFIX
from churnml.actions.trust import check_uplift
from churnml.actions.uplift import uplift_table

TRUE_EFFECT_GONE = 0.2 * 30.0


def _campaign(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"p_alive": rng.uniform(0, 1, n), "noise": rng.normal(size=n)})
    gone = X["p_alive"].to_numpy() < 0.5
    treated = rng.uniform(size=n) < 0.7
    p_buy = np.where(gone, 0.05, 0.4) + np.where(treated & gone, 0.2, 0.0)
    bought = rng.uniform(size=n) < p_buy
    revenue = np.where(bought, rng.gamma(3.0, 10.0, n), 0.0)
    action = pd.Series(np.where(treated, "email_reminder", "control"), dtype=object)
    return X, action, revenue, gone


@pytest.mark.parametrize("learner", ["t", "x"])
def test_incremental_revenue_is_recovered_where_the_truth_is_known(learner: str) -> None:
    X, action, revenue, gone = _campaign(20_000, seed=1)
    model = UpliftModel(learner=learner, outcome="revenue").fit(X, action, revenue)
    effect = model.predict(X)["email_reminder"].to_numpy()
    assert effect[gone].mean() == pytest.approx(TRUE_EFFECT_GONE, abs=1.5)
    assert abs(effect[~gone].mean()) < 1.5
    # the ranking: gone customers first
    top = np.argsort(-effect)[: int(gone.sum())]
    assert gone[top].mean() > 0.75
    # judged on fresh customers, the effect is shown and kept
    X2, action2, revenue2, _ = _campaign(10_000, seed=2)
    verdicts = check_uplift(model, X2, action2, revenue2)
    assert verdicts.set_index("action").loc["email_reminder", "verdict"] == "learned"


def test_revenue_model_round_trips_and_joins_the_policy_table() -> None:
    X, action, revenue, _ = _campaign(6_000, seed=3)
    conversion = UpliftModel(learner="x").fit(X, action, revenue > 0)
    spend = UpliftModel(learner="x", outcome="revenue").fit(X, action, revenue)
    again = UpliftModel.from_dict(json.loads(json.dumps(spend.to_dict())))
    assert again.outcome == "revenue"
    np.testing.assert_allclose(
        again.predict(X)["email_reminder"], spend.predict(X)["email_reminder"], rtol=1e-12
    )
    table = uplift_table(conversion, spend, X)
    assert list(table.columns) == [
        "email_reminder",
        "uplift_source",
        REVENUE_PREFIX + "email_reminder",
    ]
    assert uplift_table(conversion, None, X).columns.tolist() == ["email_reminder", "uplift_source"]


def test_untrusted_revenue_effects_stay_out_of_the_policy_table() -> None:
    X, action, revenue, _ = _campaign(6_000, seed=4)
    conversion = UpliftModel(learner="x").fit(X, action, revenue > 0)
    rng = np.random.default_rng(5)
    noise = rng.gamma(3.0, 10.0, len(X)) * (rng.uniform(size=len(X)) < 0.2)  # no effect at all
    spend = UpliftModel(learner="x", outcome="revenue").fit(X, action, noise)
    X2, action2, _, _ = _campaign(6_000, seed=6)
    check_uplift(
        spend, X2, action2, rng.gamma(3.0, 10.0, len(X2)) * (rng.uniform(size=len(X2)) < 0.2)
    )
    assert spend.trust_["email_reminder"]["verdict"] != "learned"
    assert REVENUE_PREFIX + "email_reminder" not in uplift_table(conversion, spend, X).columns


def test_revenue_must_be_finite_and_non_negative() -> None:
    X, action, revenue, _ = _campaign(2_000, seed=7)
    bad = revenue.copy()
    bad[0] = -5.0
    with pytest.raises(ValueError, match="non-negative"):
        UpliftModel(outcome="revenue").fit(X, action, bad)
    with pytest.raises(ValueError, match="binary"):
        UpliftModel().fit(X, action, revenue)
