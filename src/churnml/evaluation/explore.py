"""Pictures and tables for a first look at a customer base (used by the explore notebook)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnml.features.rfm import purchase_days


def cohort_retention(
    transactions: pd.DataFrame, as_of: pd.Timestamp | str, freq: str = "M"
) -> pd.DataFrame:
    """Share of each acquisition cohort that bought in each later period.

    Rows are cohorts (period of the first purchase), columns the number of periods
    since acquisition; values are the share of the cohort with a purchase then.
    """
    days = purchase_days(transactions, as_of)
    period = days["day"].dt.to_period(freq)
    first = period.groupby(days["customer_id"]).transform("min")
    age = (period - first).apply(lambda offset: offset.n)
    active = pd.DataFrame(
        {"cohort": first.astype(str), "age": age, "customer_id": days["customer_id"]}
    )
    counts = (
        active.drop_duplicates()
        .groupby(["cohort", "age"])["customer_id"]
        .size()
        .unstack(fill_value=0)
    )
    return counts.div(counts[0], axis=0)


def plot_cohort_retention(retention: pd.DataFrame) -> Figure:
    """Heat map of :func:`cohort_retention`."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    shown = retention.iloc[:, 1:] if retention.shape[1] > 1 else retention
    image = ax.imshow(shown.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(len(shown)), labels=list(shown.index))
    ax.set_xlabel("periods since first purchase")
    ax.set_ylabel("acquisition cohort")
    ax.set_title("Repeat-purchase retention by cohort")
    fig.colorbar(image, ax=ax, label="share of cohort buying")
    fig.tight_layout()
    return fig


def plot_rfm(rfm: pd.DataFrame) -> Figure:
    """Histograms of frequency, recency, T and monetary value."""
    fig = Figure(figsize=(10, 6))
    axes = fig.subplots(2, 2).ravel()
    for ax, col in zip(axes, ("frequency", "recency", "T", "monetary_value"), strict=True):
        values = rfm[col].to_numpy(dtype=float)
        if col == "monetary_value":
            values = values[values > 0]
        ax.hist(values, bins=40, color="#3b6ea5")
        ax.set_title(col)
        ax.set_yscale("log")
    fig.suptitle(f"RFM summary of {len(rfm):,} customers")
    fig.tight_layout()
    return fig


def monthly_revenue(transactions: pd.DataFrame) -> pd.DataFrame:
    """Gross sales, refunds and active customers per month and channel."""
    tx = transactions.assign(month=transactions["order_date"].dt.to_period("M").astype(str))
    sales = tx["amount"].clip(lower=0)
    refunds = -tx["amount"].clip(upper=0)
    out = (
        tx.assign(sales=sales, refunds=refunds)
        .groupby(["month", "channel"])
        .agg(
            sales=("sales", "sum"), refunds=("refunds", "sum"), customers=("customer_id", "nunique")
        )
    )
    return out.reset_index()


def plot_monthly_revenue(monthly: pd.DataFrame) -> Figure:
    """Stacked monthly gross sales per channel."""
    wide = monthly.pivot_table(
        index="month", columns="channel", values="sales", aggfunc="sum"
    ).fillna(0.0)
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    bottom = np.zeros(len(wide))
    for channel in wide.columns:
        ax.bar(wide.index, wide[channel], bottom=bottom, label=str(channel))
        bottom += wide[channel].to_numpy()
    ax.set_title("Gross sales per month and channel")
    ax.tick_params(axis="x", rotation=90)
    ax.legend()
    fig.tight_layout()
    return fig
