"""Point-in-time behavioural features: one row per customer, nothing from ``as_of`` on.

This is the single feature code path of churnml: training (at every rolling
cut-off), batch scoring, Spark partitions and HTTP requests all call
:func:`build_features`, so what a model sees in production is computed by the
same code it was trained on.

Everything is vectorised over integer customer codes (``numpy.bincount`` and
friends, see :mod:`churnml.features.grouping`) so that 1M customers / 10M
transactions fit in seconds and memory stays proportional to the input, while one
customer costs well under a millisecond of fixed overhead: no pandas groupby, merge
or per-column DataFrame work, and the output frame is built once from a
preallocated matrix.

Feature groups
--------------
purchases   n_orders, frequency, tenure_days, recency_days, mean_gap_days,
            gap_ratio (recency / usual gap), order counts and spend in recent
            windows, the trend of the last 90 days against the 90 before;
value       total_spend, avg_order_value, monetary_value (repeat purchases),
            max_order_value;
returns     n_returns, return_rate, return_amount, days_since_return,
            returns_since_order (refunds on or after the last purchase day);
channels    share_online / share_store / share_app / share_other, n_channels;
customer    consent flags, days_since_signup;
events      per event type: count in the last 90 days and days since the last
            one; engagement in the last 30 days against the 60 before;
            engagement per 30 days since the last order and in the 90 days
            before it, and their ratio (customers who leave stop opening,
            visiting and using the app after their last order); support
            tickets on or after the last order;
campaigns   contacts in the last 180 days, days since the last contact,
            past conversions.

Missing means "never happened" and is encoded as NaN (LightGBM routes it), not
as an invented number.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from churnml.data.contract import CONSENT_COLUMNS, EVENT_TYPES, InputTables
from churnml.features.grouping import (
    count_by,
    day_numbers,
    min_by,
    row_chunks,
    sum_by,
)
from churnml.features.history import PurchaseHistory, purchase_history

#: Event types that count as engagement (opt-in attention, not complaints).
ENGAGEMENT_TYPES: tuple[str, ...] = ("email_open", "email_click", "site_visit", "app_session")
CHANNELS: tuple[str, ...] = ("online", "store", "app")
ORDER_WINDOWS: tuple[int, ...] = (30, 90, 180, 365)
#: Days before the last order over which its engagement rate is measured.
BEFORE_ORDER_DAYS = 365

#: Names and order of the behavioural feature columns.
FEATURE_COLUMNS: tuple[str, ...] = (
    # purchases and value
    "n_orders",
    "frequency",
    "tenure_days",
    "recency_days",
    "mean_gap_days",
    "gap_ratio",
    "total_spend",
    "avg_order_value",
    "monetary_value",
    "max_order_value",
    "orders_30d",
    "orders_90d",
    "spend_90d",
    "orders_180d",
    "orders_365d",
    "spend_365d",
    "orders_prev_90d",
    "trend_orders_90d",
    # returns
    "n_returns",
    "return_rate",
    "return_amount",
    "days_since_return",
    "returns_since_order",
    # channels
    *(f"share_{ch}" for ch in CHANNELS),
    "share_other",
    "n_channels",
    # customer attributes
    *CONSENT_COLUMNS,
    "days_since_signup",
    # events
    *(c for t in EVENT_TYPES for c in (f"{t}_90d", f"days_since_{t}")),
    "engagement_30d",
    "engagement_prev_60d",
    "engagement_trend",
    "days_since_engagement",
    "engagement_rate_since_order",
    "engagement_rate_before_order",
    "engagement_since_vs_before",
    "engagement_fade_before_order",
    "tickets_since_order",
    # campaigns
    "contacts_180d",
    "days_since_contact",
    "past_conversions",
)
_POSITION = {name: j for j, name in enumerate(FEATURE_COLUMNS)}


class _FeatureMatrix:
    """The output columns, preallocated so that the frame is built once without copies.

    Building a DataFrame from a dict of 51 arrays costs a consolidation copy (and
    fixed overhead per column); the groups below write into column views of one
    float matrix instead. Every column must be written: :meth:`frame` checks it.
    """

    def __init__(self, n: int) -> None:
        # Column-major: each feature column is contiguous, and the transposed matrix
        # is exactly the block pandas stores, so no copy is made.
        self.values = np.empty((n, len(FEATURE_COLUMNS)), order="F")
        self._written: set[str] = set()

    def __setitem__(self, name: str, values: np.ndarray | float) -> None:
        self.values[:, _POSITION[name]] = values
        self._written.add(name)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, _POSITION[name]]

    def frame(self, index: pd.Index) -> pd.DataFrame:
        missing = [c for c in FEATURE_COLUMNS if c not in self._written]
        if missing:
            raise RuntimeError(f"feature columns never computed: {missing}")
        return pd.DataFrame(self.values, index=index, columns=list(FEATURE_COLUMNS), copy=False)


def build_features(tables: InputTables, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """Behavioural features of every customer with a purchase strictly before ``as_of``.

    Parameters
    ----------
    tables
        Validated input tables (only ``transactions`` is required).
    as_of
        Exclusive cut-off: rows dated on or after it are ignored.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted); float64 columns ``FEATURE_COLUMNS``.
    """
    return features_from_history(tables, purchase_history(tables.transactions, as_of))


def features_from_history(tables: InputTables, history: PurchaseHistory) -> pd.DataFrame:
    """:func:`build_features` from the encoded transactions (shared with the RFM summary).

    ``history`` must be ``purchase_history(tables.transactions, as_of)``.
    """
    out = _FeatureMatrix(history.n_customers)
    _purchase_features(history, out)
    _return_features(history, out)
    _channel_features(tables.transactions, history, out)
    _customer_features(tables.customers, history, out)
    _event_features(tables.events, history, out)
    _campaign_features(tables.campaigns, history, out)
    return out.frame(history.customers)


def _purchase_features(h: PurchaseHistory, out: _FeatureMatrix) -> None:
    """Order counts, timing and value from the purchase days (refunds left out)."""
    n = h.n_customers
    start = h.day_start
    n_days = h.days_per_customer()
    n_orders = n_days.astype(float)
    first_age = h.day_age[start]  # sorted by day: a customer's first day is the oldest
    last_age = h.day_age[start + n_days - 1]
    amount = h.day_amount
    total = sum_by(h.day_customer, amount, n)  # sequential, in day order (see _purchase_days)
    frequency = n_orders - 1
    span = (first_age - last_age).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(frequency > 0, span / np.maximum(frequency, 1), np.nan)
        out["n_orders"] = n_orders
        out["frequency"] = frequency
        out["tenure_days"] = first_age
        out["recency_days"] = last_age
        out["mean_gap_days"] = mean_gap
        out["gap_ratio"] = last_age / mean_gap
        out["total_spend"] = total
        out["avg_order_value"] = total / n_orders
        out["monetary_value"] = np.where(
            frequency > 0, (total - amount[start]) / np.maximum(frequency, 1), 0.0
        )
    out["max_order_value"] = (
        np.maximum(np.maximum.reduceat(amount, start), 0.0) if len(amount) else np.zeros(n)
    )
    code, age = h.day_customer, h.day_age
    for w in ORDER_WINDOWS:
        inside = age <= w
        out[f"orders_{w}d"] = count_by(code, n, inside)
        if w in (90, 365):
            out[f"spend_{w}d"] = sum_by(code, amount, n, inside)
    out["orders_prev_90d"] = count_by(code, n, (age > 90) & (age <= 180))
    out["trend_orders_90d"] = out["orders_90d"] - out["orders_prev_90d"]


def _return_features(h: PurchaseHistory, out: _FeatureMatrix) -> None:
    """Refund rows (negative amounts): how many, how much, how recent."""
    n = h.n_customers
    code = h.refund_customer
    n_returns = count_by(code, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["n_returns"] = n_returns
        out["return_rate"] = n_returns / out["n_orders"]
    out["return_amount"] = -sum_by(code, h.refund_amount, n)
    out["days_since_return"] = min_by(code, h.refund_age, n)
    # A returned last order is the one a customer may leave over (nothing bought since).
    out["returns_since_order"] = count_by(code, n, h.refund_age <= out["recency_days"][code])


def _channel_features(transactions: pd.DataFrame, h: PurchaseHistory, out: _FeatureMatrix) -> None:
    """Share of sale rows (positive amounts) per channel, and how many channels were used."""
    n = h.n_customers
    n_slots = len(CHANNELS) + 1  # last slot: any other channel
    counts = np.zeros(n * n_slots, dtype=np.int64)
    channel = transactions["channel"].to_numpy()
    for part in row_chunks(len(h.sale_position)):
        slot = _slots(channel[h.sale_position[part]], CHANNELS)
        counts += np.bincount(h.sale_customer[part] * n_slots + slot, minlength=n * n_slots)
    per_channel = counts.reshape(n, n_slots)
    n_sales = np.maximum(per_channel.sum(axis=1), 1).astype(float)
    for j, ch in enumerate(CHANNELS):
        out[f"share_{ch}"] = per_channel[:, j] / n_sales
    out["share_other"] = per_channel[:, -1] / n_sales
    out["n_channels"] = (per_channel > 0).sum(axis=1)


def _customer_features(
    customers: pd.DataFrame | None, h: PurchaseHistory, out: _FeatureMatrix
) -> None:
    """Consent flags (0 when unknown) and days since signup (NaN when unknown or later)."""
    n = h.n_customers
    consent = np.zeros((n, len(CONSENT_COLUMNS)))
    since_signup = np.full(n, np.nan)
    if customers is not None and len(customers):
        code = h.encode(customers["customer_id"].to_numpy())
        ok = code >= 0
        for j, c in enumerate(CONSENT_COLUMNS):
            consent[code[ok], j] = customers[c].to_numpy(dtype=float)[ok]
        signup = day_numbers(customers["signup_date"])
        has = ok & (signup < h.cut_day)
        since_signup[code[has]] = h.cut_day - signup[has]
    for j, c in enumerate(CONSENT_COLUMNS):
        out[c] = consent[:, j]
    out["days_since_signup"] = since_signup


def _event_features(events: pd.DataFrame | None, h: PurchaseHistory, out: _FeatureMatrix) -> None:
    """Per event type: count in the last 90 days and days since the last one; engagement.

    Event types are hashed once into small integer slots; counts and last dates of
    all types then come from one 2-D ``bincount`` / ``minimum.at`` over
    (customer, type) instead of one pass over the rows per type. Events are the
    largest table, so they are read in chunks of rows (totals are simply added up).
    """
    n = h.n_customers
    n_slots = len(EVENT_TYPES) + 1  # last slot: unknown types
    engaged_slots = [EVENT_TYPES.index(t) for t in ENGAGEMENT_TYPES]
    is_engaged = np.zeros(n_slots, dtype=bool)
    is_engaged[engaged_slots] = True
    recent = np.zeros(n * n_slots)  # events in the last 90 days per (customer, type)
    youngest = np.full(n * n_slots, np.inf)  # days since the last one; inf: never
    e30 = np.zeros(n)
    last_order_age = out["recency_days"]
    ticket_slot = EVENT_TYPES.index("support_ticket")
    tickets = np.zeros(n)  # support tickets on or after the last purchase day
    since_order = np.zeros(n)  # engagement events after the last purchase day
    before_order = np.zeros(n)  # ... in the year up to and including it
    fade_window = np.zeros(n)  # ... in the 90 days up to and including it
    for chunk in _table_chunks(events):
        code, age, row = _rows_before(chunk, "event_date", h)
        slot = _slots(chunk["event_type"].to_numpy()[row], EVENT_TYPES)
        cell = code * n_slots + slot
        recent += np.bincount(cell[age <= 90], minlength=n * n_slots)
        np.minimum.at(youngest, cell, age.astype(float))
        engaged = is_engaged[slot]
        e30 += np.bincount(code[engaged & (age <= 30)], minlength=n)
        after = age - last_order_age[code]  # < 0: after the last order
        since_order += np.bincount(code[engaged & (after < 0)], minlength=n)
        before_order += np.bincount(
            code[engaged & (after >= 0) & (after < BEFORE_ORDER_DAYS)], minlength=n
        )
        fade_window += np.bincount(code[engaged & (after >= 0) & (after < 90)], minlength=n)
        tickets += np.bincount(code[(slot == ticket_slot) & (after <= 0)], minlength=n)
    youngest[np.isinf(youngest)] = np.nan
    counts, last = recent.reshape(n, n_slots), youngest.reshape(n, n_slots)
    for j, t in enumerate(EVENT_TYPES):
        out[f"{t}_90d"] = counts[:, j]
        out[f"days_since_{t}"] = last[:, j]
    e_prev = counts[:, engaged_slots].sum(axis=1) - e30  # 30 < age <= 90
    out["engagement_30d"] = e30
    out["engagement_prev_60d"] = e_prev
    out["engagement_trend"] = e30 - e_prev / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["days_since_engagement"] = np.fmin.reduce(last[:, engaged_slots], axis=1)
        # Per 30 days; no day after an order made yesterday, hence NaN there.
        days_after = (last_order_age - 1).astype(float)
        rate_since = np.where(days_after > 0, 30.0 * since_order / days_after, np.nan)
        span = np.minimum(BEFORE_ORDER_DAYS, out["tenure_days"] - last_order_age + 1.0)
        rate_before = 30.0 * before_order / span
        out["engagement_rate_since_order"] = rate_since
        out["engagement_rate_before_order"] = rate_before
        out["engagement_since_vs_before"] = np.where(
            rate_before > 0, rate_since / rate_before, np.nan
        )
        # Fading before the last order: its last 90 days against its year (1 = steady).
        rate_fade = 30.0 * fade_window / np.minimum(90.0, span)
        out["engagement_fade_before_order"] = np.where(
            rate_before > 0, rate_fade / rate_before, np.nan
        )
    out["tickets_since_order"] = tickets


def _campaign_features(
    campaigns: pd.DataFrame | None, h: PurchaseHistory, out: _FeatureMatrix
) -> None:
    """Treated contacts before the cut-off: recent count, days since the last, conversions."""
    n = h.n_customers
    code, age, row = _rows_before(campaigns, "sent_date", h, also="treated")
    converted = (
        campaigns["converted"].to_numpy()[row].astype(bool)
        if campaigns is not None and len(row)
        else np.zeros(0, dtype=bool)
    )
    out["contacts_180d"] = count_by(code, n, age <= 180)
    out["days_since_contact"] = min_by(code, age, n)
    out["past_conversions"] = count_by(code, n, converted)


def _rows_before(
    table: pd.DataFrame | None,
    date_column: str,
    h: PurchaseHistory,
    also: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``table`` dated before the cut-off that belong to the history's customers.

    Returns ``(customer code, age in days, row position)``; empty arrays when the
    table is missing or empty. ``also`` names a boolean column the rows must also
    satisfy (e.g. ``treated``).
    """
    empty = np.empty(0, dtype=np.intp)
    if table is None or len(table) == 0:
        return empty, empty.astype(np.int64), empty
    day = day_numbers(table[date_column])
    keep = day < h.cut_day
    if also is not None:
        keep &= table[also].to_numpy(dtype=bool)
    row = np.flatnonzero(keep)
    code = h.encode(table["customer_id"].to_numpy()[row])
    known = code >= 0
    if not known.all():
        row, code = row[known], code[known]
    return code, h.cut_day - day[row], row


def _table_chunks(table: pd.DataFrame | None) -> Iterator[pd.DataFrame]:
    """``table`` in slices of ``row_chunks`` rows (itself when it fits in one, none if empty)."""
    if table is None or len(table) == 0:
        return
    parts = list(row_chunks(len(table)))
    if len(parts) == 1:
        yield table  # no slicing cost for a table that fits in one chunk
    else:
        for part in parts:
            yield table.iloc[part]


def _slots(values: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``names``; ``len(names)`` for anything else (or missing).

    The values are hashed once (``pd.factorize``) and only the distinct ones are
    compared with ``names``: one pass over millions of strings instead of one per
    name.
    """
    lookup = {name: j for j, name in enumerate(names)}
    other = len(names)
    codes, uniques = pd.factorize(values)
    slot_of = np.array([lookup.get(u, other) for u in uniques] + [other], dtype=np.intp)
    return slot_of[codes]  # code -1 (missing) takes the last entry: other
