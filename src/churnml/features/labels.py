"""Churn labels and the rolling cut-offs that training learns from.

A customer *churned* at a cut-off when they had a purchase before it and none
in ``[cutoff, cutoff + window)``. Training uses several earlier cut-offs, each
with its label window fully observed before the scoring date, so that the
label a model learns is exactly the one it is later asked to predict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.features.grouping import cutoff_day, day_numbers


def churn_labels(
    transactions: pd.DataFrame, cutoff: pd.Timestamp | str, window_days: int
) -> pd.Series:
    """1 if a customer with history before ``cutoff`` made no purchase in the window after it.

    Returns a ``float`` Series named ``churned`` indexed by ``customer_id`` (the
    same customers as :func:`churnml.features.build_features` at ``cutoff``).
    A purchase is a row with a non-negative amount, as in the RFM summary.
    """
    start = cutoff_day(cutoff)
    day = day_numbers(transactions["order_date"])
    purchase = transactions["amount"].to_numpy(dtype=float) >= 0
    ids = transactions["customer_id"].to_numpy()
    _, seen = pd.factorize(ids[purchase & (day < start)])  # missing ids belong to nobody
    customers = pd.Index(np.sort(seen), name="customer_id")
    in_window = purchase & (day >= start) & (day < start + window_days)
    bought = customers.isin(ids[in_window])
    return pd.Series(np.where(bought, 0.0, 1.0), index=customers, name="churned")


def rolling_cutoffs(
    first_date: pd.Timestamp | str,
    last_observed: pd.Timestamp | str,
    window_days: int,
    n_cutoffs: int,
    step_days: int | None = None,
    min_history_days: int = 90,
) -> list[pd.Timestamp]:
    """Training cut-offs whose label windows end on or before ``last_observed``.

    Parameters
    ----------
    first_date
        First day of the data; a cut-off needs ``min_history_days`` of history after it.
    last_observed
        Exclusive end of what is known (the scoring ``as_of`` when training for it).
    window_days
        Churn window; the latest cut-off is ``last_observed - window_days``.
    n_cutoffs, step_days
        How many cut-offs, spaced ``step_days`` apart (default half a window).

    Returns
    -------
    list of pandas.Timestamp
        Oldest first. Empty when the data is too short for even one labelled cut-off.
    """
    step = step_days or max(window_days // 2, 1)
    latest = pd.Timestamp(last_observed).normalize() - pd.Timedelta(days=window_days)
    earliest = pd.Timestamp(first_date).normalize() + pd.Timedelta(days=min_history_days)
    cuts = [latest - pd.Timedelta(days=k * step) for k in range(n_cutoffs)]
    return sorted(c for c in cuts if c >= earliest)
