"""Lifecycle segments and value tiers: rule order, boundaries, batch = single-customer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnml.config import SegmentConfig
from churnml.errors import DataValidationError
from churnml.segments import SEGMENTS, ValueTiers, assign_segments, describe_segments

CFG = SegmentConfig()  # new 60, at_risk 0.5, lapsed 180, churned 365, loyal 5, vip platinum


def _row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "recency_days": 10,
        "tenure_days": 400,
        "n_orders": 2,
        "churn_probability": 0.1,
        "value_tier": "bronze",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (_row(), "active"),
        (_row(recency_days=365), "churned"),
        (_row(recency_days=364), "lapsed"),
        (_row(recency_days=180), "lapsed"),
        (_row(recency_days=179, churn_probability=0.9), "at_risk"),
        (_row(tenure_days=60, recency_days=3), "new"),
        (_row(tenure_days=61), "active"),
        # new beats at_risk: a first-time buyer needs onboarding, not a win-back offer
        (_row(tenure_days=30, churn_probability=0.9), "new"),
        # recency beats everything: a VIP who has not bought for a year is churned
        (_row(recency_days=400, n_orders=50, value_tier="platinum"), "churned"),
        (_row(churn_probability=0.5), "at_risk"),
        (_row(churn_probability=0.49, n_orders=5), "loyal"),
        (_row(n_orders=5, value_tier="platinum"), "vip"),
        (_row(n_orders=4, value_tier="platinum"), "active"),
        (_row(n_orders=9, value_tier="platinum", churn_probability=0.7), "at_risk"),
        # unknown churn probability never makes a customer at risk
        (_row(churn_probability=np.nan), "active"),
    ],
)
def test_segment_rules_in_documented_order(row: dict[str, object], expected: str) -> None:
    assert assign_segments(pd.DataFrame([row]), CFG).iloc[0] == expected


def test_segment_thresholds_come_from_config() -> None:
    frame = pd.DataFrame([_row(recency_days=100, n_orders=3, value_tier="gold")])
    assert assign_segments(frame, CFG).iloc[0] == "active"
    cfg = SegmentConfig(lapsed_days=90, churned_days=200, loyal_min_orders=3, vip_tier="gold")
    assert assign_segments(frame, cfg).iloc[0] == "lapsed"
    frame.loc[0, "recency_days"] = 10
    assert assign_segments(frame, cfg).iloc[0] == "vip"


def test_segments_keep_index_and_only_known_labels() -> None:
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 500, n),
            "tenure_days": rng.integers(0, 900, n),
            "n_orders": rng.integers(1, 20, n),
            "churn_probability": rng.random(n),
            "value_tier": rng.choice(["bronze", "silver", "gold", "platinum"], n),
        },
        index=pd.Index([f"c{i}" for i in range(n)]),
    )
    seg = assign_segments(frame, CFG)
    assert seg.name == "segment"
    assert seg.index.equals(frame.index)
    assert set(seg) <= set(SEGMENTS)


def test_missing_columns_are_reported_together() -> None:
    with pytest.raises(DataValidationError) as err:
        assign_segments(pd.DataFrame({"recency_days": [1]}), CFG)
    assert {p.column for p in err.value.problems} == {
        "tenure_days",
        "n_orders",
        "churn_probability",
        "value_tier",
    }


def test_describe_segments_lists_every_rule_with_numbers() -> None:
    table = describe_segments(CFG)
    assert list(table["segment"]) == list(SEGMENTS)
    assert "365" in table.set_index("segment").loc["churned", "rule"]


def test_value_tiers_follow_quantiles() -> None:
    clv = pd.Series(np.arange(1, 1001, dtype=float))
    tiers = ValueTiers().fit(clv)
    counts = tiers.transform(clv).value_counts()
    assert counts["bronze"] == 500
    assert counts["silver"] == 300
    assert counts["gold"] == 150
    assert counts["platinum"] == 50
    assert list(tiers.thresholds_) == ["bronze", "silver", "gold", "platinum"]
    assert all(isinstance(v, float) for v in tiers.thresholds_.values())


def test_value_tiers_ties_at_zero_stay_in_lowest_tier() -> None:
    clv = np.r_[np.zeros(700), np.linspace(1, 100, 300)]
    tiers = ValueTiers().fit(clv)
    out = tiers.transform(clv)
    assert (out[:700] == "bronze").all()


def test_value_tiers_single_customer_matches_batch_after_json_round_trip() -> None:
    rng = np.random.default_rng(1)
    clv = pd.Series(rng.lognormal(4, 1, 2000))
    tiers = ValueTiers.from_config(CFG).fit(clv)
    restored = ValueTiers.from_dict(json.loads(json.dumps(tiers.to_dict())))
    batch = tiers.transform(clv)
    for i in rng.choice(len(clv), 50, replace=False):
        assert restored.transform([clv.iloc[i]]).iloc[0] == batch.iloc[i]
    # values outside the training range and unknown CLV still get a tier
    assert list(restored.transform([-5.0, 1e9, np.nan])) == ["bronze", "platinum", "bronze"]


def test_value_tiers_need_fit_and_valid_quantiles() -> None:
    with pytest.raises(RuntimeError):
        ValueTiers().transform([1.0])
    with pytest.raises(ValueError):
        ValueTiers({"a": 0.0, "b": 1.5}).fit([1.0, 2.0])
    with pytest.raises(ValueError):
        ValueTiers().fit([1.0, np.nan])
