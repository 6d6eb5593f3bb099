"""The customer-base KPIs a retailer runs its business on, as plain frames.

Definitions, the same everywhere in the report:

- history is every transaction strictly before ``as_of`` (as everywhere in churnml);
- an **order** is a validated transaction row with a positive amount (rows sharing an
  ``order_id`` were merged by the contract); refunds are not orders;
- **revenue** is net: the sum of all amounts, refunds included, so that revenue by
  channel, by segment or by omnichannel group adds up to the total;
- **AOV** (average order value) is the value of orders divided by their number, so a
  refund lowers revenue but not the size of the orders that were placed;
- a **buyer** has at least one order; the **repeat-purchase rate** is the share of
  buyers with two or more orders;
- a buyer's **cohort** is the calendar month of their first order; cohort retention
  in month ``k`` is the share of the cohort's buyers with an order in the ``k``-th
  calendar month after the cohort month (``k = 0`` is 100 % by definition). Cells
  after the last month of history are missing; the last month may be partial.

Segments, value tiers, CLV, P(alive) and churn risk come from ``churnml score``
output; nothing here plots or reads files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.actions.lift import LIFT_COLUMNS, lift_table
from churnml.data.contract import InputTables
from churnml.errors import DataValidationError, Problem
from churnml.reporting.cohorts import CohortRetention, cohort_retention, history, orders_of
from churnml.segments import SEGMENTS, require_columns

#: Columns of ``churnml score`` output the report reads.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "segment",
    "value_tier",
    "clv",
    "p_alive",
    "churn_probability",
)

#: Segment of buyers without a row in the scores.
UNSCORED = "unscored"

_NO_GROUP = ("dimension", "group")

#: Churn-risk bands of the risk table: [lower, upper) of ``churn_probability``.
RISK_BANDS: tuple[tuple[str, float, float], ...] = (
    ("low (<25%)", 0.0, 0.25),
    ("medium (25-50%)", 0.25, 0.5),
    ("high (50-75%)", 0.5, 0.75),
    ("very high (75%+)", 0.75, np.inf),
)


@dataclass(frozen=True)
class CustomerBaseKPIs:
    """Every table of the report; ``headline`` holds the single numbers."""

    as_of: pd.Timestamp
    headline: dict[str, float | int | str]
    retention: CohortRetention
    by_channel: pd.DataFrame
    by_segment: pd.DataFrame
    omnichannel: pd.DataFrame
    value_tiers: pd.DataFrame
    risk_bands: pd.DataFrame
    campaigns: pd.DataFrame | None
    customers: pd.DataFrame


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The report's columns of ``churnml score`` output, checked and typed.

    A scores file from another system or a truncated export fails here with the
    column named, rather than as a blank chart.
    """
    require_columns(scores, list(SCORE_COLUMNS), "scores")
    out = scores.loc[:, list(SCORE_COLUMNS)].copy()
    out["customer_id"] = out["customer_id"].astype(str).str.strip()
    problems = []
    for c in ("clv", "p_alive", "churn_probability"):
        values = pd.to_numeric(out[c], errors="coerce")
        bad = values.isna() & out[c].notna()
        if bad.any():
            rows = tuple(int(i) + 1 for i in np.flatnonzero(bad.to_numpy())[:5])
            problems.append(Problem("scores", c, "not a number", int(bad.sum()), rows))
        out[c] = values.astype(float)
    dup = out["customer_id"].duplicated()
    if dup.any():
        rows = tuple(int(i) + 1 for i in np.flatnonzero(dup.to_numpy())[:5])
        problems.append(
            Problem("scores", "customer_id", "duplicate customer", int(dup.sum()), rows)
        )
    if problems:
        raise DataValidationError(problems)
    out["segment"] = out["segment"].astype(str)
    out["value_tier"] = out["value_tier"].astype(str)
    return out.reset_index(drop=True)


def customer_table(
    transactions: pd.DataFrame, scores: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """One row per customer with history: orders, revenue, channels, and their scores.

    Buyers missing from ``scores`` get the segment ``unscored`` (their CLV and risk
    stay missing); scored customers without history before ``as_of`` are left out.
    """
    tx = history(transactions, as_of)
    orders = orders_of(tx)
    known = orders.loc[orders["channel"] != "unknown"]
    per = pd.DataFrame(
        {
            "revenue": tx.groupby("customer_id")["amount"].sum(),
            "orders": orders.groupby("customer_id").size(),
            "order_value": orders.groupby("customer_id")["amount"].sum(),
            "channels": known.groupby("customer_id")["channel"].nunique(),
        }
    )
    per[["orders", "channels"]] = per[["orders", "channels"]].fillna(0).astype(np.int64)
    per["order_value"] = per["order_value"].fillna(0.0)
    per.index.name = "customer_id"
    scored = validate_scores(scores).set_index("customer_id")
    if len(per) and not per.index.isin(scored.index).any():
        raise DataValidationError(
            [Problem("scores", "customer_id", "no customer of the transactions is in the scores")]
        )
    table = per.join(scored, how="left")
    table["segment"] = table["segment"].fillna(UNSCORED)
    table["value_tier"] = table["value_tier"].fillna(UNSCORED)
    return table.reset_index()


def _group_kpis(table: pd.DataFrame, key: str, order: list[str]) -> pd.DataFrame:
    """Customers, revenue, orders, AOV, frequency and repeat rate per value of ``key``."""
    g = table.groupby(key, sort=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "orders": g["orders"].sum(),
            "order_value": g["order_value"].sum(),
            "repeat_buyers": g["orders"].apply(lambda s: int((s >= 2).sum())),
            "buyers": g["orders"].apply(lambda s: int((s >= 1).sum())),
            "mean_clv": g["clv"].mean(),
            "total_clv": g["clv"].sum(min_count=1),
            "mean_p_alive": g["p_alive"].mean(),
            "mean_churn_probability": g["churn_probability"].mean(),
        }
    )
    out = out.reindex([k for k in order if k in out.index])
    out["share_of_customers"] = out["customers"] / max(len(table), 1)
    out["share_of_revenue"] = out["revenue"] / table["revenue"].sum()
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    out["aov"] = out["order_value"] / out["orders"].where(out["orders"] > 0)
    out["orders_per_buyer"] = out["orders"] / out["buyers"].where(out["buyers"] > 0)
    out["repeat_rate"] = out["repeat_buyers"] / out["buyers"].where(out["buyers"] > 0)
    out.index.name = key
    return out.drop(columns=["order_value", "repeat_buyers"])


def segment_kpis(table: pd.DataFrame) -> pd.DataFrame:
    """KPIs per lifecycle segment, in the order of the segment rules."""
    order = [*SEGMENTS, *sorted(set(table["segment"]) - set(SEGMENTS) - {UNSCORED}), UNSCORED]
    return _group_kpis(table, "segment", order)


def omnichannel_kpis(table: pd.DataFrame) -> pd.DataFrame:
    """Omnichannel buyers (orders in 2+ known channels) against single-channel buyers.

    Orders of unknown channel do not count as a channel; buyers whose orders all have
    an unknown channel are left out of both groups.
    """
    groups = np.where(table["channels"] >= 2, "omnichannel", "single channel")
    frame = table.loc[table["channels"] >= 1].assign(group=groups[table["channels"] >= 1])
    return _group_kpis(frame, "group", ["omnichannel", "single channel"])


def channel_kpis(transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Customers, orders, net revenue, AOV and orders per customer by channel.

    Revenue adds up to the total; customers do not (an omnichannel customer counts
    in every channel they bought in).
    """
    tx = history(transactions, as_of)
    orders = orders_of(tx)
    g = orders.groupby("channel")
    out = pd.DataFrame(
        {
            "customers": g["customer_id"].nunique(),
            "orders": g.size(),
            "order_value": g["amount"].sum(),
            "revenue": tx.groupby("channel")["amount"].sum(),
        }
    )
    out[["customers", "orders"]] = out[["customers", "orders"]].fillna(0).astype(np.int64)
    out = out.sort_values("revenue", ascending=False)
    out["share_of_revenue"] = out["revenue"] / tx["amount"].sum()
    out["aov"] = out["order_value"] / out["orders"].where(out["orders"] > 0)
    out["orders_per_customer"] = out["orders"] / out["customers"].where(out["customers"] > 0)
    out.index.name = "channel"
    return out.drop(columns=["order_value"])


def value_tier_kpis(table: pd.DataFrame) -> pd.DataFrame:
    """Customers, CLV and revenue per value tier, from the lowest tier to the highest."""
    scored = table.loc[table["value_tier"] != UNSCORED]
    g = scored.groupby("value_tier")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "mean_clv": g["clv"].mean(),
            "min_clv": g["clv"].min(),
            "max_clv": g["clv"].max(),
            "total_clv": g["clv"].sum(),
            "revenue": g["revenue"].sum(),
        }
    ).sort_values("mean_clv")
    out["share_of_customers"] = out["customers"] / max(len(scored), 1)
    out["share_of_clv"] = out["total_clv"] / scored["clv"].sum()
    return out


def risk_band_kpis(table: pd.DataFrame) -> pd.DataFrame:
    """Customers and the CLV they carry per churn-risk band: where the value at risk sits."""
    scored = table.loc[table["churn_probability"].notna()]
    rows = []
    for name, low, high in RISK_BANDS:
        part = scored.loc[
            (scored["churn_probability"] >= low) & (scored["churn_probability"] < high)
        ]
        rows.append(
            {
                "churn_risk": name,
                "customers": len(part),
                "share_of_customers": len(part) / max(len(scored), 1),
                "mean_p_alive": part["p_alive"].mean(),
                "total_clv": part["clv"].sum(),
            }
        )
    return pd.DataFrame(rows).set_index("churn_risk")


def campaign_kpis(
    campaigns: pd.DataFrame, as_of: pd.Timestamp, last: int = 5, confidence: float = 0.95
) -> pd.DataFrame:
    """Treated vs control per campaign, for the ``last`` campaigns sent before ``as_of``.

    Uses the recorded ``converted`` and ``revenue`` of the campaigns table (the
    response window the campaign system measured) and the confidence intervals of
    :func:`churnml.actions.lift.lift_table`.
    """
    sent = campaigns.loc[campaigns["sent_date"] < as_of]
    dates = sent.groupby("campaign_id")["sent_date"].min().sort_values()
    rows = []
    for campaign_id, date in dates.iloc[-last:].items():
        part = sent.loc[sent["campaign_id"] == campaign_id]
        lift = lift_table(part, confidence=confidence).iloc[0].to_dict()
        lift = {k: v for k, v in lift.items() if k not in _NO_GROUP}
        rows.append({"campaign_id": campaign_id, "sent_date": date.date().isoformat(), **lift})
    columns = ["campaign_id", "sent_date", *(c for c in LIFT_COLUMNS if c not in _NO_GROUP)]
    return pd.DataFrame(rows, columns=columns).set_index("campaign_id")


def compute_kpis(
    tables: InputTables, scores: pd.DataFrame, as_of: pd.Timestamp, last_campaigns: int = 5
) -> CustomerBaseKPIs:
    """Every KPI of the report from validated tables and ``churnml score`` output."""
    as_of = pd.Timestamp(as_of).normalize()
    tx = tables.transactions
    table = customer_table(tx, scores, as_of)
    buyers = table.loc[table["orders"] >= 1]
    past = history(tx, as_of)
    orders = orders_of(past)
    n_buyers = len(buyers)
    with_channel = int((table["channels"] >= 1).sum())
    headline: dict[str, float | int | str] = {
        "as_of": as_of.date().isoformat(),
        "first_order": past["order_date"].min().date().isoformat() if len(past) else "",
        "last_order": past["order_date"].max().date().isoformat() if len(past) else "",
        "customers": len(table),
        "buyers": n_buyers,
        "orders": len(orders),
        "revenue": float(past["amount"].sum()),
        "aov": float(orders["amount"].mean()) if len(orders) else float("nan"),
        "orders_per_buyer": len(orders) / n_buyers if n_buyers else float("nan"),
        "repeat_rate": float((buyers["orders"] >= 2).mean()) if n_buyers else float("nan"),
        "omnichannel_share": float((table["channels"] >= 2).sum() / with_channel)
        if with_channel
        else float("nan"),
        "scored": int((table["segment"] != UNSCORED).sum()),
        "mean_clv": float(table["clv"].mean()),
        "total_clv": float(table["clv"].sum()),
        "mean_p_alive": float(table["p_alive"].mean()),
        "mean_churn_probability": float(table["churn_probability"].mean()),
    }
    campaigns = None
    if tables.campaigns is not None:
        campaigns = campaign_kpis(tables.campaigns, as_of, last=last_campaigns)
    return CustomerBaseKPIs(
        as_of=as_of,
        headline=headline,
        retention=cohort_retention(tx, as_of),
        by_channel=channel_kpis(tx, as_of),
        by_segment=segment_kpis(table),
        omnichannel=omnichannel_kpis(table),
        value_tiers=value_tier_kpis(table),
        risk_bands=risk_band_kpis(table),
        campaigns=campaigns,
        customers=table,
    )
