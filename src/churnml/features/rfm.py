"""Point-in-time RFM summary in the ``lifetimes`` convention.

For each customer with at least one purchase strictly before ``as_of``:

frequency
    number of *repeat* purchase periods (distinct purchase days, minus one);
recency
    time from the first to the last purchase, in ``time_unit``;
T
    time from the first purchase to the last observed day (``as_of`` minus one
    day), in ``time_unit``;
monetary_value
    mean value of the repeat purchase days (0 when frequency is 0).

Purchases are counted per calendar day: several orders on one day are one
purchase occasion, their amounts summed, as in Fader, Hardie & Lee (2005).
Refund rows (negative amounts) are returns, not purchases: they neither make a
purchase occasion nor reduce its value (the behavioural features count them
separately), so spend stays positive as Gamma-Gamma requires. A zero-value
order (a free promotional item, eight of them in the CDNOW sample) *is* a
purchase occasion — the customer came and ordered — with value 0; the
Gamma-Gamma fit only uses customers whose mean repeat spend is positive. With ``time_unit="W"``,
durations are days / 7 — the convention of the published CDNOW figures.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from churnml.features.history import PurchaseHistory, purchase_history

TimeUnit = Literal["D", "W"]
_DAYS_PER_UNIT: dict[str, float] = {"D": 1.0, "W": 7.0}


def days_per_unit(time_unit: str) -> float:
    """Number of days in one ``time_unit`` ("D" or "W")."""
    try:
        return _DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise ValueError(f"time_unit must be 'D' or 'W', got {time_unit!r}") from None


def purchase_days(transactions: pd.DataFrame, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """Gross amount per customer and purchase day before ``as_of`` (refund rows left out).

    Returns columns ``customer_id``, ``day`` (datetime64 at midnight), ``amount``.
    """
    cutoff = pd.Timestamp(as_of).normalize()
    keep = (transactions["order_date"] < cutoff) & (transactions["amount"] >= 0)
    tx = transactions.loc[keep, ["customer_id", "order_date", "amount"]]
    return (
        tx.assign(day=tx["order_date"].dt.normalize())
        .groupby(["customer_id", "day"], sort=False, observed=True)["amount"]
        .sum()
        .reset_index()
    )


def rfm_summary(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    time_unit: TimeUnit = "D",
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer as of a cut-off.

    Parameters
    ----------
    transactions
        Validated transactions (``customer_id``, ``order_date``, ``amount``).
    as_of
        Exclusive cut-off: only purchases strictly before it are used.
    time_unit
        ``"D"`` (days) or ``"W"`` (weeks) for recency and T.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted); columns ``frequency``, ``recency``, ``T``,
        ``monetary_value``. Customers without a purchase before ``as_of`` are absent.
    """
    unit = days_per_unit(time_unit)  # fail on a bad unit before any work
    return _summarise(purchase_history(transactions, as_of), unit)


def rfm_from_history(history: PurchaseHistory, time_unit: TimeUnit = "D") -> pd.DataFrame:
    """:func:`rfm_summary` of an already encoded history (shared with the features)."""
    return _summarise(history, days_per_unit(time_unit))


def _summarise(history: PurchaseHistory, unit: float) -> pd.DataFrame:
    """The four RFM columns from the purchase days (sorted by customer, then day)."""
    start = history.day_start
    n_days = history.days_per_customer()
    first_age = history.day_age[start]  # the first purchase day is the oldest
    last_age = history.day_age[start + n_days - 1]
    amount = history.day_amount
    total = np.bincount(history.day_customer, weights=amount, minlength=len(start))
    frequency = n_days - 1
    # Monetary value is the mean of the repeat purchase days: the first day is left out.
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - amount[start]) / np.maximum(frequency, 1), 0.0)
    return pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (first_age - last_age) / unit,
            "T": (first_age - 1) / unit,  # to the last observed day, the cut-off's eve
            "monetary_value": monetary,
        },
        index=history.customers,
    )
