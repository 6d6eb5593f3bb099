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
        Indexed by ``customer_id``; columns ``frequency``, ``recency``, ``T``,
        ``monetary_value``. Customers without a purchase before ``as_of`` are absent.
    """
    unit = days_per_unit(time_unit)
    cutoff = pd.Timestamp(as_of).normalize()
    daily = purchase_days(transactions, cutoff)
    return _summarise(daily, cutoff, unit)


def _summarise(daily: pd.DataFrame, cutoff: pd.Timestamp, unit: float) -> pd.DataFrame:
    codes, uniques = pd.factorize(daily["customer_id"], sort=True)
    n = len(uniques)
    day_ns = daily["day"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    amount = daily["amount"].to_numpy(dtype=float)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, codes, day_ns)
    np.maximum.at(last, codes, day_ns)
    count = np.bincount(codes, minlength=n)
    total = np.bincount(codes, weights=amount, minlength=n)
    # The first purchase day's amount is excluded from monetary value (repeat purchases only).
    is_first = day_ns == first[codes]
    first_amount = np.bincount(codes[is_first], weights=amount[is_first], minlength=n)
    frequency = count - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - first_amount) / np.maximum(frequency, 1), 0.0)
    end_day = np.int64(
        (cutoff - pd.Timedelta(days=1)).to_datetime64().astype("datetime64[D]").astype(np.int64)
    )
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (last - first) / unit,
            "T": (end_day - first) / unit,
            "monetary_value": monetary,
        },
        index=pd.Index(uniques, name="customer_id"),
    )
    return out
