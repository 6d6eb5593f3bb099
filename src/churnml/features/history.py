"""Transactions before a cut-off, encoded once for the RFM summary and the features.

:func:`purchase_history` does the expensive part of point-in-time feature building a
single time: it drops rows on or after the cut-off, turns customer ids into integer
codes (the string hashing that dominates at millions of rows), and collapses
purchases into purchase days (one sort of packed integer keys instead of a pandas
groupby on strings). :func:`churnml.features.rfm_summary`,
:func:`churnml.features.build_features` and :func:`churnml.models.inputs.model_inputs`
all start from it, so they agree on who the customers are and what a purchase day is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.features.grouping import (
    cutoff_day,
    day_numbers,
    encode,
    run_starts,
    sort_by_key,
)


@dataclass(frozen=True)
class PurchaseHistory:
    """Transactions before a cut-off of the customers with at least one purchase before it.

    Purchase-day arrays (``day_*``) hold one entry per customer and calendar day with
    a non-negative amount, sorted by customer and then day, so that ``day_start[i]``
    is customer ``i``'s first purchase day and ``day_start[i + 1] - 1`` their last
    one. The raw rows are kept only where the features need them: refund rows
    (negative amounts) and the positions of sale rows (positive amounts, for the
    channel mix). Zero-value orders are purchase days but neither.
    """

    customers: pd.Index  #: sorted customer ids, named ``customer_id``
    cut_day: int  #: day number of the cut-off (exclusive)
    day_customer: np.ndarray  #: code (position in ``customers``) of the purchase day's customer
    day_age: np.ndarray  #: days from the purchase day to the cut-off (>= 1)
    day_amount: np.ndarray  #: summed non-negative amounts of the day
    day_start: np.ndarray  #: index of each customer's first purchase day
    refund_customer: np.ndarray  #: code of each refund row's customer
    refund_age: np.ndarray  #: days from the refund row's day to the cut-off (>= 1)
    refund_amount: np.ndarray  #: the refund's (negative) amount
    sale_customer: np.ndarray  #: code of each sale row's customer
    sale_position: np.ndarray  #: position of each sale row in the transactions table

    @property
    def n_customers(self) -> int:
        """Number of customers (rows of every per-customer output)."""
        return len(self.customers)

    def encode(self, ids: np.ndarray) -> np.ndarray:
        """Code of each id (its position in ``customers``); -1 for any other id."""
        return encode(ids, self.customers)

    def days_per_customer(self) -> np.ndarray:
        """Number of distinct purchase days of each customer (>= 1)."""
        return np.diff(self.day_start, append=len(self.day_age))


def purchase_history(transactions: pd.DataFrame, as_of: pd.Timestamp | str) -> PurchaseHistory:
    """Encode the transactions strictly before ``as_of`` (see :class:`PurchaseHistory`)."""
    cut = cutoff_day(as_of)
    day = day_numbers(transactions["order_date"])
    position = np.flatnonzero(day < cut)
    age = cut - day[position]
    del day  # the row arrays are the memory peak at millions of rows: free early
    amount = transactions["amount"].to_numpy(dtype=float)[position]
    ids = transactions["customer_id"].to_numpy()[position]
    customers, code = _customers_with_purchases(ids, amount >= 0)
    del ids
    known = code >= 0
    if not known.all():
        position, code, age, amount = position[known], code[known], age[known], amount[known]
    n = len(customers)
    day_customer, day_age, day_amount = _purchase_days(code, age, amount, n)
    refund, sale = amount < 0, amount > 0
    return PurchaseHistory(
        customers=customers,
        cut_day=cut,
        day_customer=day_customer,
        day_age=day_age,
        day_amount=day_amount,
        day_start=np.searchsorted(day_customer, np.arange(n)),
        refund_customer=code[refund],
        refund_age=age[refund],
        refund_amount=amount[refund],
        sale_customer=code[sale],
        sale_position=position[sale],
    )


def _customers_with_purchases(
    ids: np.ndarray, is_purchase: np.ndarray
) -> tuple[pd.Index, np.ndarray]:
    """Sorted ids of customers with a purchase row, and each row's code in them (-1: none).

    Ids are hashed once (``pd.factorize``); only the distinct ids are sorted, so
    the cost is one pass over the rows whatever the number of customers. A
    customer whose rows are all refunds has no purchase and is left out.
    """
    codes, uniques = pd.factorize(ids)
    valid = codes >= 0  # missing ids belong to nobody
    bought = np.bincount(codes[valid & is_purchase], minlength=len(uniques)) > 0
    kept = np.flatnonzero(bought)
    order = np.argsort(uniques[kept], kind="stable")
    rank = np.full(len(uniques) + 1, -1, dtype=np.intp)  # last slot: code -1
    rank[kept[order]] = np.arange(len(kept))
    customers = pd.Index(uniques[kept[order]], name="customer_id")
    return customers, rank[codes]


def _purchase_days(
    code: np.ndarray, age: np.ndarray, amount: np.ndarray, n_customers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchase rows summed per customer and day, sorted by customer then day.

    Several orders on one day are one purchase occasion (their amounts summed);
    refund rows are no purchase. Returns ``(customer, age, amount)`` per purchase day.
    """
    purchase = amount >= 0
    if not purchase.any():
        empty = np.empty(0, dtype=np.intp)
        return empty, empty.astype(np.int64), np.empty(0)
    oldest = int(age[purchase].max())
    span = oldest - int(age[purchase].min()) + 1
    # Key: customer, then day ascending (age descending); built in place to spare memory.
    key = code[purchase]
    key *= span
    key += oldest
    key -= age[purchase]
    order, sorted_key = sort_by_key(key, n_customers * span)
    del key
    starts = run_starts(sorted_key)
    first = sorted_key[starts]
    del sorted_key
    day_amount = _run_sums(amount[purchase][order], starts)
    return first // span, oldest - first % span, day_amount


def _run_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of each run of ``values`` (runs begin at ``starts``), in row order, compensated.

    The arithmetic of pandas' groupby sum (Kahan summation, row by row), so purchase
    day amounts are the same to the last bit as a ``groupby(...).sum()`` gives: one
    vectorised step per k-th order of a day, over the few days with k or more orders.
    """
    length = np.diff(starts, append=len(values))
    total = 0.0 + values[starts]  # 0.0 + x: a day of -0.0 amounts sums to 0.0, as in pandas
    compensation = np.zeros(len(starts))
    runs = np.flatnonzero(length > 1)
    k = 1
    while len(runs):
        y = values[starts[runs] + k] - compensation[runs]
        t = total[runs] + y
        compensation[runs] = (t - total[runs]) - y
        total[runs] = t
        k += 1
        runs = runs[length[runs] > k]
    return total
