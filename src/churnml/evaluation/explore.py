"""Pictures and tables for a first look at a customer base (used by the explore notebook)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


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
