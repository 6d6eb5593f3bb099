"""Cohort retention by first-order month, and the order history it is counted on.

A retention matrix is how a retailer sees whether newer customers stick better or
worse than older ones, independent of how many were acquired. Definitions as in
:mod:`churnml.reporting.kpis`: history is strictly before ``as_of``, an order is a
validated transaction row with a positive amount, months are calendar months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CohortRetention:
    """Cohort retention: ``shares`` (cohort month x months since, NaN after the data) and ``sizes``."""

    shares: pd.DataFrame
    sizes: pd.Series


def history(transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Validated transactions strictly before ``as_of`` (``as_of`` is exclusive)."""
    return transactions.loc[transactions["order_date"] < as_of]


def orders_of(tx: pd.DataFrame) -> pd.DataFrame:
    """The rows that are orders: positive amounts (refunds are not orders)."""
    return tx.loc[tx["amount"] > 0]


def _month_number(dates: pd.Series) -> np.ndarray:
    """Months since year 0: consecutive integers for consecutive calendar months."""
    return (dates.dt.year * 12 + dates.dt.month - 1).to_numpy(dtype=np.int64)


def _month_label(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def cohort_retention(transactions: pd.DataFrame, as_of: pd.Timestamp) -> CohortRetention:
    """Share of each first-purchase cohort that ordered again ``k`` calendar months later.

    The retention matrix is how a retailer sees whether newer customers stick
    better or worse than older ones, independent of how many were acquired.
    """
    orders = orders_of(history(transactions, as_of))
    if orders.empty:
        return CohortRetention(pd.DataFrame(dtype=float), pd.Series(dtype=np.int64))
    month = pd.Series(_month_number(orders["order_date"]), index=orders.index)
    first = month.groupby(orders["customer_id"]).transform("min")
    active = pd.DataFrame(
        {"customer_id": orders["customer_id"], "cohort": first, "k": month - first}
    ).drop_duplicates()
    sizes = active.loc[active["k"] == 0].groupby("cohort").size()
    counts = active.groupby(["cohort", "k"]).size().unstack(fill_value=0)
    last = _month_number(pd.Series([as_of - pd.Timedelta(days=1)]))[0]
    ks = np.arange(int(last - sizes.index.min()) + 1)
    counts = counts.reindex(index=sizes.index, columns=ks, fill_value=0)
    shares = counts.div(sizes, axis=0).astype(float)
    beyond = sizes.index.to_numpy()[:, None] + ks[None, :] > last
    shares = shares.mask(beyond)
    labels = [_month_label(int(c)) for c in sizes.index]
    shares.index = pd.Index(labels, name="cohort")
    shares.columns = pd.Index(ks, name="months_since_first")
    sizes.index = shares.index
    return CohortRetention(shares, sizes.astype(np.int64).rename("customers"))
