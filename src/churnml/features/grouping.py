"""Per-customer aggregation on integer codes: the numpy primitives of the feature code.

Feature building has two very different workloads: one customer per HTTP request,
where pandas' fixed cost per groupby/merge dominates, and millions of rows in
batch, where hashing strings and sorting dominate. Both are served by the same
few operations on plain arrays: customers become integer codes once, dates become
integer day numbers once, and every aggregate is a ``bincount``, a ``ufunc.at`` or
a ``reduceat`` over those codes. Tables with many independent rows are read in
chunks (:func:`row_chunks`) so that temporary arrays stay small.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

#: Rows processed at a time where rows are independent (events, sale rows): the
#: temporary arrays then take tens of MB whatever the table size, not GBs.
CHUNK_ROWS = 1 << 20

DAY_NS = 86_400_000_000_000
#: Day number given to missing dates: later than any cut-off, so never "before" one.
NO_DAY = np.iinfo(np.int64).max


def cutoff_day(as_of: pd.Timestamp | str) -> int:
    """Day number (days since 1970-01-01) of the cut-off's calendar day."""
    return int(pd.Timestamp(as_of).normalize().value // DAY_NS)


def day_numbers(values: pd.Series) -> np.ndarray:
    """Calendar day of each timestamp as days since the epoch (floor), ``NO_DAY`` for NaT.

    ``day < cutoff_day(as_of)`` is then exactly ``timestamp < as_of`` for a midnight
    ``as_of``, and ``cutoff_day - day`` is the age in days used by every feature.
    """
    ns = values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    days = ns // DAY_NS
    missing = ns == np.iinfo(np.int64).min  # NaT
    if missing.any():
        days[missing] = NO_DAY
    return days


def row_chunks(n_rows: int) -> Iterator[slice]:
    """Consecutive slices covering ``range(n_rows)``, at most ``CHUNK_ROWS`` long (none if empty)."""
    size = CHUNK_ROWS  # read at call time, so that tests can make chunks tiny
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def encode(ids: np.ndarray, customers: pd.Index) -> np.ndarray:
    """Position of each id in ``customers``; -1 for ids outside it."""
    if len(customers) == 0 or len(ids) == 0:
        return np.full(len(ids), -1, dtype=np.intp)
    return customers.get_indexer(ids)


def sort_by_key(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort of non-negative integer keys below ``n_keys``: ``(order, sorted_keys)``.

    ``np.argsort`` of int64 has no SIMD kernel and is about ten times slower than
    ``np.sort``. When the key and the row number fit together in 63 bits, the row
    number is packed into the low bits and the packed values are sorted instead:
    same (stable) permutation, a fraction of the time.
    """
    n = len(keys)
    row_bits = max(int(n - 1).bit_length(), 1)
    if int(n_keys - 1).bit_length() + row_bits <= 63:
        packed = keys.astype(np.int64)  # a copy: the caller's keys are left alone
        packed <<= row_bits
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        order = packed & ((1 << row_bits) - 1)
        packed >>= row_bits
        return order, packed
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.empty(0, dtype=np.intp)
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    return np.concatenate(([0], change))


def count_by(codes: np.ndarray, n: int, where: np.ndarray | None = None) -> np.ndarray:
    """Number of rows per code (float), optionally only the rows where ``where`` holds."""
    selected = codes if where is None else codes[where]
    return np.bincount(selected, minlength=n).astype(float)


def sum_by(
    codes: np.ndarray, values: np.ndarray, n: int, where: np.ndarray | None = None
) -> np.ndarray:
    """Sum of ``values`` per code, optionally only the rows where ``where`` holds."""
    if where is not None:
        codes, values = codes[where], values[where]
    return np.bincount(codes, weights=values, minlength=n)


def min_by(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Smallest value per code as float; NaN for codes without rows ("never happened")."""
    out = np.full(n, np.inf)
    np.minimum.at(out, codes, values.astype(float))
    out[np.isinf(out)] = np.nan
    return out
