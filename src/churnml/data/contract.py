"""Validation and coercion of the four input tables.

Each ``validate_*`` function takes a raw frame (as read from CSV, Parquet or a
request body), coerces it to the canonical dtypes and either returns the clean
frame or raises one :class:`~churnml.errors.DataValidationError` that lists
*every* problem found, with the column, the number of offending rows and a few
example row numbers (1-based, counting data rows as a spreadsheet user would).

Canonical shapes
----------------
transactions  customer_id (str), order_date (datetime64, naive local time),
              amount (float64; negative = refund), channel (str, "unknown"
              when absent). Rows sharing an ``order_id`` are merged into one order.
customers     customer_id (unique str), signup_date (datetime64, NaT allowed),
              consent_email / consent_sms / consent_push / consent_call (bool; missing = False),
              free attribute columns kept as they are.
events        customer_id, event_date, event_type (str).
campaigns     customer_id, campaign_id, sent_date, action, treated (bool),
              converted (bool), revenue (float, 0 when absent).

Speed
-----
The validators run on every HTTP request (a handful of rows, where pandas' fixed
cost per call dominates) and on tables of tens of millions of rows (where copies
and per-row Python objects dominate). Columns are checked with one vectorised
Arrow/numpy pass that reuses the caller's string objects, and rows of one order
are grouped only when an order id repeats. Columns of a few rows
(:func:`churnml.data.coerce.few_rows`) are the one exception: an Arrow or pandas call has
a fixed cost per column that dominates an HTTP request, so a request's ids, labels
and dates are cleaned, parsed and checked for repeats in Python and numpy. Both
routes give the same frames and problems; ``tests/test_contract.py`` compares them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnml.data.coerce import NAT, clean_text, few_rows, parse_date_column
from churnml.errors import DataValidationError, Problem

#: Event types the behavioural features know about. Others are kept (and counted
#: as "other") unless ``strict=True``.
EVENT_TYPES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "site_visit",
    "app_session",
    "cart_abandon",
    "support_ticket",
)

CONSENT_COLUMNS: tuple[str, ...] = ("consent_email", "consent_sms", "consent_push", "consent_call")

_MAX_EXAMPLES = 5
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", ""}


@dataclass
class InputTables:
    """The validated inputs of one scoring or training job."""

    transactions: pd.DataFrame
    customers: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None


class _Collector:
    """Accumulates problems for one table so they can be raised together."""

    def __init__(self, table: str):
        self.table = table
        self.problems: list[Problem] = []

    def add(self, column: str, message: str, mask: np.ndarray | pd.Series | None = None) -> None:
        if mask is None:
            self.problems.append(Problem(self.table, column, message, 1, ()))
            return
        idx = np.flatnonzero(np.asarray(mask))
        if idx.size:
            rows = tuple(int(i) + 1 for i in idx[:_MAX_EXAMPLES])
            self.problems.append(Problem(self.table, column, message, int(idx.size), rows))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataValidationError(self.problems)


def _require(frame: pd.DataFrame, required: Iterable[str], col: _Collector) -> bool:
    """Record missing columns and empty input; return False if nothing else can be checked."""
    if not isinstance(frame, pd.DataFrame):
        col.add("*", f"expected a table, got {type(frame).__name__}")
        return False
    missing = [c for c in required if c not in frame.columns]
    for c in missing:
        col.add(
            c, f"required column is missing (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    if len(frame) == 0:
        col.add("*", "the table is empty")
    return not missing and len(frame) > 0


# ------------------------------------------------------------------------------ text columns


def _isin(values: np.ndarray, allowed: frozenset[str]) -> np.ndarray:
    """Which cleaned text values (``str`` or ``pd.NA``) are in ``allowed``."""
    return pd.Series(values, copy=False).isin(allowed).to_numpy()


def _clean_ids(values: pd.Series, column: str, col: _Collector) -> np.ndarray:
    """Trimmed ids; missing or empty ones are recorded as problems."""
    text = clean_text(values)
    col.add(column, "missing or empty id", text.blank)
    return text.values


def _dates(frame: pd.DataFrame, column: str, col: _Collector, required: bool = True) -> np.ndarray:
    """Parsed ``column``; blank (if ``required``) and unparseable dates are problems."""
    parsed, blank = parse_date_column(frame[column])
    if required:
        col.add(column, "missing date", blank)
    col.add(
        column,
        "unparseable or out-of-range date (expected e.g. 2024-03-31 or 2024-03-31T18:05:00+02:00)",
        np.isnat(parsed) & ~blank,
    )
    return parsed


# ------------------------------------------------------------------------------ numbers, flags
def _is_numpy_number(values: pd.Series) -> bool:
    """Whether ``values`` are numpy numbers, which need no ``to_numeric`` pass."""
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu"


def _amounts(frame: pd.DataFrame, column: str, col: _Collector) -> np.ndarray:
    """Amounts as float64; missing, non-numeric and infinite amounts are problems."""
    raw = frame[column]
    if _is_numpy_number(raw):  # already numbers: only NaN and infinity can be wrong
        num = raw.to_numpy().astype(np.float64)
        col.add(column, "missing amount (NaN)", np.isnan(num))
    else:
        num = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
        blank = raw.isna().to_numpy()
        col.add(column, "missing amount (NaN)", blank)
        col.add(column, "not a number", np.isnan(num) & ~blank)
    col.add(column, "infinite amount", np.isinf(num))
    return num


def _revenue(values: pd.Series, col: _Collector) -> np.ndarray:
    """Campaign revenue as float; missing is 0, infinite or non-numeric is a problem."""
    if _is_numpy_number(values):
        rev = values.to_numpy().astype(np.float64)
        col.add("revenue", "not a finite number", np.isinf(rev))
        return np.where(np.isnan(rev), 0.0, rev)
    num = pd.to_numeric(values, errors="coerce")
    col.add(
        "revenue",
        "not a finite number",
        (~np.isfinite(num.to_numpy(dtype=float)) & values.notna().to_numpy()),
    )
    return num.fillna(0.0).to_numpy(dtype=float)


_KNOWN_BOOLEANS = frozenset(_TRUE | _FALSE)
_TRUE_WORDS = frozenset(_TRUE)


def _booleans(values: pd.Series, column: str, col: _Collector) -> np.ndarray:
    """Flags as bool: booleans as they are, words such as yes/no/1/0; missing is False."""
    if values.dtype == np.dtype(bool):
        return values.to_numpy(copy=True)
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool).to_numpy()
    text = clean_text(values, lower=True)
    known = text.blank | _isin(text.values, _KNOWN_BOOLEANS)
    col.add(column, "not a boolean (use true/false, yes/no or 1/0)", ~known)
    return _isin(text.values, _TRUE_WORDS)


# ------------------------------------------------------------------------------ orders
_MERGED_COLUMNS = ("customer_id", "order_id", "order_date", "amount", "channel")


def _channels(frame: pd.DataFrame) -> np.ndarray:
    """Lower-case channel labels; missing or empty is ``"unknown"``."""
    if "channel" not in frame.columns:
        return np.full(len(frame), "unknown", dtype=object)
    text = clean_text(frame["channel"], lower=True)
    text.values[text.blank] = "unknown"
    return text.values


def _merge_orders(columns: dict[str, np.ndarray], keyed: np.ndarray) -> pd.DataFrame:
    """One row per (customer_id, order_id), then the rows without an order id.

    As ``groupby([customer_id, order_id], sort=False)`` with the earliest date,
    the summed amount and the first channel, followed by the unkeyed rows; the
    groupby (costly on millions of string keys) only runs when an order id
    repeats. A one-row "sum" still adds 0.0, as the groupby's does (-0.0 → 0.0).
    """
    every = bool(keyed.all())
    rows = {c: columns[c] if every else columns[c][keyed] for c in _MERGED_COLUMNS}
    if _all_distinct(rows["order_id"]):
        rows["amount"] = rows["amount"] + 0.0
    else:
        rows = _sum_order_lines(rows)
    if not every:
        rest = {c: columns[c][~keyed] for c in _MERGED_COLUMNS}
        if pd.isna(rest["order_id"]).all():
            # pd.concat, which this output has always come from, fills a column
            # that is all missing in one piece with NaN (and keeps <NA> otherwise).
            rest["order_id"] = np.full(len(rest["order_id"]), np.nan, dtype=object)
        rows = {c: np.concatenate([rows[c], rest[c]]) for c in _MERGED_COLUMNS}
    # From a dict in column order: passing ``columns=`` too takes pandas' slow path.
    return pd.DataFrame({c: rows[c] for c in _MERGED_COLUMNS}, copy=False)


def _all_distinct(values: np.ndarray) -> bool:
    """Whether the (non-missing) strings in ``values`` are pairwise different.

    Hashing millions of distinct strings is slow in pandas and Arrow alike;
    strictly increasing ids (the usual export order) are distinct after one
    vectorised comparison, and any other order is settled by a sort. A request's
    few ids are compared in a Python set.
    """
    if few_rows(len(values)):
        return len(set(values)) == len(values)
    arr = pa.array(values, type=pa.large_string())
    if pc.all(pc.less(arr[:-1], arr[1:])).as_py():
        return True
    ordered = arr.take(pc.sort_indices(arr))
    return not pc.any(pc.equal(ordered[:-1], ordered[1:])).as_py()


def _sum_order_lines(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows sharing (customer_id, order_id) merged, in order of first appearance.

    Grouping on one integer code per pair is much cheaper than on two string
    columns; the sum is pandas' own, over the same rows in the same order.
    """
    customer = pd.factorize(rows["customer_id"])[0].astype(np.int64)
    order, distinct_orders = pd.factorize(rows["order_id"])
    group = pd.factorize(customer * len(distinct_orders) + order)[0]
    # Codes are numbered by first appearance: a row opens its group when it beats the max so far.
    first = np.flatnonzero(group > np.maximum.accumulate(np.r_[-1, group[:-1]]))
    values = pd.DataFrame({"order_date": rows["order_date"], "amount": rows["amount"]}, copy=False)
    agg = values.groupby(group, sort=False).agg(
        order_date=("order_date", "min"), amount=("amount", "sum")
    )
    return {
        "customer_id": rows["customer_id"][first],
        "order_id": rows["order_id"][first],
        "order_date": agg["order_date"].to_numpy(),
        "amount": agg["amount"].to_numpy(),
        "channel": rows["channel"][first],
    }


# ------------------------------------------------------------------------------ tables
def validate_transactions(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a transactions table; merge rows of one order.

    Negative amounts are refunds or returns and are kept. Rows with the same
    ``customer_id`` and ``order_id`` are one order: their amounts are summed and
    the earliest timestamp is kept.
    """
    col = _Collector("transactions")
    if not _require(frame, ("customer_id", "order_date", "amount"), col):
        col.raise_if_any()
    columns = {
        "customer_id": _clean_ids(frame["customer_id"], "customer_id", col),
        "order_date": _dates(frame, "order_date", col),
        "amount": _amounts(frame, "amount", col),
    }
    col.raise_if_any()
    columns["channel"] = _channels(frame)
    if "order_id" in frame.columns:
        order = clean_text(frame["order_id"])
        keyed = ~order.blank
        if keyed.any():
            columns["order_id"] = order.values
            return _merge_orders(columns, keyed)
        columns["order_id"] = np.full(len(frame), None, dtype=object)
    return pd.DataFrame(columns, copy=False)


def validate_customers(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a customers table (one row per customer)."""
    col = _Collector("customers")
    if not _require(frame, ("customer_id",), col):
        col.raise_if_any()
    n = len(frame)
    ids = _clean_ids(frame["customer_id"], "customer_id", col)
    col.add("customer_id", "duplicate customer row", _duplicated(ids))
    coerced: dict[str, np.ndarray] = {"customer_id": ids}
    if "signup_date" in frame.columns:
        coerced["signup_date"] = _dates(frame, "signup_date", col, required=False)
    else:
        coerced["signup_date"] = np.full(n, NAT)
    for c in CONSENT_COLUMNS:
        coerced[c] = _booleans(frame[c], c, col) if c in frame.columns else np.zeros(n, bool)
    col.raise_if_any()
    return _with_columns(frame, coerced)


def _duplicated(values: np.ndarray) -> np.ndarray:
    """Rows whose value appeared in an earlier row."""
    if len(values) <= 1:
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, copy=False).duplicated(keep="first").to_numpy()


def _with_columns(frame: pd.DataFrame, coerced: dict[str, np.ndarray]) -> pd.DataFrame:
    """A copy of ``frame`` with ``coerced`` columns replaced or appended, and a fresh index.

    Free attribute columns are kept as they are (dtype included). The frame is built
    once from arrays: copying the input and then setting each coerced column cost
    ~50 µs a column, most of the validation of a one-customer request.
    """
    if not frame.columns.is_unique:  # no array per name: let pandas sort it out
        out = frame.copy()
        for name, values in coerced.items():
            out[name] = values
        return out.reset_index(drop=True)
    names = [*frame.columns, *(c for c in coerced if c not in frame.columns)]
    data = {name: coerced[name] if name in coerced else frame[name].array.copy() for name in names}
    return pd.DataFrame(data, copy=False)


def validate_events(frame: pd.DataFrame, strict: bool = False) -> pd.DataFrame:
    """Check and coerce an events table; with ``strict``, reject unknown event types."""
    col = _Collector("events")
    if not _require(frame, ("customer_id", "event_date", "event_type"), col):
        col.raise_if_any()
    ids = _clean_ids(frame["customer_id"], "customer_id", col)
    dates = _dates(frame, "event_date", col)
    types = clean_text(frame["event_type"], lower=True)
    col.add("event_type", "missing event type", types.blank)
    if strict:
        col.add(
            "event_type",
            f"unknown event type (known: {', '.join(EVENT_TYPES)})",
            ~_isin(types.values, frozenset(EVENT_TYPES)) & ~types.blank,
        )
    col.raise_if_any()
    return pd.DataFrame(
        {"customer_id": ids, "event_date": dates, "event_type": types.values}, copy=False
    )


def validate_campaigns(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a campaign-history table (treated and held-out contacts)."""
    col = _Collector("campaigns")
    required = ("customer_id", "campaign_id", "sent_date", "action", "treated", "converted")
    if not _require(frame, required, col):
        col.raise_if_any()
    columns = {
        "customer_id": _clean_ids(frame["customer_id"], "customer_id", col),
        "campaign_id": _clean_ids(frame["campaign_id"], "campaign_id", col),
        "sent_date": _dates(frame, "sent_date", col),
        "action": _clean_ids(frame["action"], "action", col),
        "treated": _booleans(frame["treated"], "treated", col),
        "converted": _booleans(frame["converted"], "converted", col),
    }
    if "revenue" in frame.columns:
        columns["revenue"] = _revenue(frame["revenue"], col)
    else:
        columns["revenue"] = np.zeros(len(frame))
    for extra in ("channel", "segment"):
        if extra in frame.columns:
            columns[extra] = frame[extra].to_numpy(copy=True)
    col.raise_if_any()
    return pd.DataFrame(columns, copy=False)


def validate_tables(
    transactions: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    strict_events: bool = False,
) -> InputTables:
    """Validate all given tables, raising one error that lists the problems of all of them."""
    problems: list[Problem] = []
    results: dict[str, pd.DataFrame | None] = {}
    checks = {
        "transactions": (validate_transactions, transactions),
        "customers": (validate_customers, customers),
        "events": (lambda f: validate_events(f, strict=strict_events), events),
        "campaigns": (validate_campaigns, campaigns),
    }
    for name, (fn, frame) in checks.items():
        if frame is None:
            results[name] = None
            continue
        try:
            results[name] = fn(frame)
        except DataValidationError as err:
            problems.extend(err.problems)
    if problems:
        raise DataValidationError(problems)
    tx = results["transactions"]
    assert tx is not None
    return InputTables(
        transactions=tx,
        customers=results["customers"],
        events=results["events"],
        campaigns=results["campaigns"],
    )
