"""Lifecycle segments and CLV value tiers.

Segments and tiers are what a marketer filters on, so their rules are plain,
ordered and configurable (:class:`~churnml.config.SegmentConfig`) rather than
learned: a customer's segment must be explainable in one sentence.

Lifecycle segments, first matching rule wins:

=========  ==========================================================================
segment    rule
=========  ==========================================================================
churned    ``recency_days >= churned_days`` (no purchase for a long time)
lapsed     ``recency_days >= lapsed_days``
new        ``tenure_days <= new_days`` (onboarding: first purchase was recent)
at_risk    ``churn_probability >= at_risk_probability``
vip        ``n_orders >= loyal_min_orders`` and ``value_tier == vip_tier``
loyal      ``n_orders >= loyal_min_orders``
active     everyone else
=========  ==========================================================================

Recency rules come first because a customer who has not bought for a year is
"churned" whatever the model says; "new" comes before "at_risk" because a
recent first-time buyer needs onboarding, not a win-back offer, and the churn
model knows little about them yet.

Value tiers split customers by CLV quantiles of a *training* population. The
thresholds are stored as plain numbers, so a single customer scored over HTTP
gets the same tier as in the batch run the thresholds came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from churnml.config import SegmentConfig
from churnml.errors import DataValidationError, Problem
from churnml.frames import floats

#: Every lifecycle segment, in the order the rules are applied.
SEGMENTS: tuple[str, ...] = ("churned", "lapsed", "new", "at_risk", "vip", "loyal", "active")

#: Columns :func:`assign_segments` reads.
SEGMENT_INPUT_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "n_orders",
    "churn_probability",
    "value_tier",
)


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], table: str) -> None:
    """Raise one :class:`DataValidationError` naming every missing column of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise DataValidationError(
            [Problem(table, c, f"required column is missing (found: {found})") for c in missing]
        )


class ValueTiers:
    """CLV value tiers from quantiles of a training population.

    Parameters
    ----------
    tiers
        Tier name -> lower CLV quantile bound, e.g. ``{"bronze": 0, "silver": 0.5,
        "gold": 0.8, "platinum": 0.95}`` (the default of :class:`SegmentConfig`).
        The lowest tier catches every customer below the next bound.

    Attributes
    ----------
    thresholds_ : dict[str, float]
        Tier name -> lowest CLV of the tier, in increasing order, learned by :meth:`fit`.
        A customer belongs to the highest tier whose threshold their CLV *exceeds*
        (the lowest tier has no threshold): ties at a threshold go to the lower tier,
        so that a mass of customers with CLV 0 stays in the lowest tier.
    """

    def __init__(self, tiers: Mapping[str, float] | None = None):
        self.tiers = dict(tiers) if tiers is not None else dict(SegmentConfig().value_tiers)

    @classmethod
    def from_config(cls, config: SegmentConfig) -> ValueTiers:
        """Tiers as configured in the ``segments`` section."""
        return cls(config.value_tiers)

    def _ordered_tiers(self) -> list[tuple[str, float]]:
        if not self.tiers:
            raise ValueError("at least one value tier is needed")
        items = sorted(self.tiers.items(), key=lambda kv: kv[1])
        qs = [q for _, q in items]
        if any(not 0.0 <= q < 1.0 for q in qs):
            raise ValueError(f"tier quantiles must lie in [0, 1), got {self.tiers}")
        if len(set(qs)) != len(qs):
            raise ValueError(f"tier quantiles must be distinct, got {self.tiers}")
        return items

    def fit(self, clv: ArrayLike) -> Self:
        """Learn the CLV threshold of each tier from a training population."""
        values = np.asarray(clv, dtype=float)
        if values.size == 0:
            raise ValueError("cannot fit value tiers on an empty CLV array")
        if not np.isfinite(values).all():
            raise ValueError("CLV used to fit value tiers must be finite (no NaN or inf)")
        items = self._ordered_tiers()
        self.thresholds_ = {name: float(np.quantile(values, q)) for name, q in items}
        return self

    def transform(self, clv: ArrayLike) -> pd.Series:
        """Tier name of each CLV value (unknown CLV gets the lowest tier).

        Returns a Series named ``value_tier``, with the index of ``clv`` if it is a Series.
        """
        if not hasattr(self, "thresholds_"):
            raise RuntimeError("ValueTiers is not fitted: call fit() or from_dict() first")
        names = list(self.thresholds_)
        bounds = np.array(list(self.thresholds_.values())[1:], dtype=float)
        values = np.asarray(clv, dtype=float)
        # searchsorted(side="left") counts bounds strictly below the value.
        idx = np.searchsorted(bounds, np.nan_to_num(values, nan=-np.inf), side="left")
        labels = np.asarray(names, dtype=object)[idx]
        index = clv.index if isinstance(clv, pd.Series) else None
        return pd.Series(labels, index=index, name="value_tier", dtype=object)

    def fit_transform(self, clv: ArrayLike) -> pd.Series:
        """Fit on ``clv`` and return its tiers."""
        return self.fit(clv).transform(clv)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: the configured quantiles and the learned thresholds."""
        out: dict[str, Any] = {"tiers": dict(self.tiers)}
        if hasattr(self, "thresholds_"):
            out["thresholds"] = dict(self.thresholds_)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValueTiers:
        """Rebuild from :meth:`to_dict` output."""
        obj = cls(data["tiers"])
        if "thresholds" in data:
            ordered = [name for name, _ in obj._ordered_tiers()]
            obj.thresholds_ = {name: float(data["thresholds"][name]) for name in ordered}
        return obj


def assign_segments(frame: pd.DataFrame, config: SegmentConfig | None = None) -> pd.Series:
    """Lifecycle segment of each customer by the ordered rules of this module's docstring.

    Parameters
    ----------
    frame
        One row per customer with ``recency_days`` (days since last purchase),
        ``tenure_days`` (days since first purchase), ``n_orders`` (distinct purchase
        days), ``churn_probability`` and ``value_tier``. A missing churn probability
        never makes a customer "at_risk"; a missing recency (never bought) never makes
        them "lapsed" or "churned".
    config
        Rule thresholds; defaults of :class:`SegmentConfig` when omitted.

    Returns
    -------
    pandas.Series
        Segment names (``SEGMENTS``), named ``segment``, with the index of ``frame``.
    """
    cfg = config if config is not None else SegmentConfig()
    require_columns(frame, SEGMENT_INPUT_COLUMNS, "segments")
    recency = floats(frame["recency_days"])
    tenure = floats(frame["tenure_days"])
    orders = floats(frame["n_orders"])
    churn = floats(frame["churn_probability"])
    tier = frame["value_tier"].astype(object).to_numpy()

    with np.errstate(invalid="ignore"):
        loyal = orders >= cfg.loyal_min_orders
        conditions = [
            recency >= cfg.churned_days,
            recency >= cfg.lapsed_days,
            tenure <= cfg.new_days,
            churn >= cfg.at_risk_probability,
            loyal & (tier == cfg.vip_tier),
            loyal,
        ]
    labels = np.select(conditions, list(SEGMENTS[:-1]), default=SEGMENTS[-1])
    return pd.Series(labels.astype(object), index=frame.index, name="segment", dtype=object)


def describe_segments(config: SegmentConfig | None = None) -> pd.DataFrame:
    """The segment rules with the configured numbers filled in, for reports and docs."""
    c = config if config is not None else SegmentConfig()
    rules = {
        "churned": f"no purchase for {c.churned_days} days or more",
        "lapsed": f"no purchase for {c.lapsed_days} days or more",
        "new": f"first purchase at most {c.new_days} days ago",
        "at_risk": f"churn probability {c.at_risk_probability:.0%} or more",
        "vip": f"{c.loyal_min_orders}+ orders and value tier '{c.vip_tier}'",
        "loyal": f"{c.loyal_min_orders}+ orders",
        "active": "everyone else",
    }
    return pd.DataFrame(
        {
            "order": range(1, len(SEGMENTS) + 1),
            "segment": SEGMENTS,
            "rule": [rules[s] for s in SEGMENTS],
        }
    )
