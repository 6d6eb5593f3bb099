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
are grouped only when an order id repeats. Date columns of at most
``_SMALL_ROWS`` rows are the one exception: pandas' date parsing has a fixed
cost per column that dominates an HTTP request, so a request's dates are parsed
in Python and numpy. Every route gives the same frames and problems as the general
pandas route; ``tests/test_contract.py`` compares them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
_MIN_DATE = pd.Timestamp("1900-01-01")
_MAX_DATE = pd.Timestamp("2200-01-01")
_OFFSET_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
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
#
# Every text column is "trimmed (and maybe lower-cased) as an Arrow string would be".
# The definition is _clean_text_pandas (any objects: numbers become their ``str``).
# Columns of ``str`` and None take _clean_text_arrow instead: one Arrow pass that
# only *checks* the strings and keeps the caller's string objects when trimming
# changes nothing (the usual case), instead of building a new Python string per row.
# _clean_text_small, the same rule for plain ASCII in a Python loop, serves the
# few date strings of a request (see _parse_dates). Python's ``str.strip`` and
# Arrow's ``utf8_trim_whitespace`` remove the same characters, and lower-casing
# agrees on ASCII; tests compare the three.

#: Date columns with at most this many rows are parsed in Python (see _parse_dates).
_SMALL_ROWS = 256


@dataclass(frozen=True)
class _Text:
    """A cleaned text column: values (``str``, or ``pd.NA`` where missing) and blanks.

    ``values`` is always a new array that the caller may modify; ``blank`` marks
    rows that are missing or empty after trimming.
    """

    values: np.ndarray
    blank: np.ndarray


def _clean_text(values: pd.Series, lower: bool = False) -> _Text:
    """``values`` as text, trimmed (and lower-cased): the contract's rule for ids and labels."""
    if values.dtype == object:
        strings = _clean_text_arrow(values.to_numpy(), lower)
        if strings is not None:
            return strings
    return _clean_text_pandas(values, lower)


def _clean_text_pandas(values: pd.Series, lower: bool) -> _Text:
    """The reference definition: any dtype, any objects (numbers become their ``str``)."""
    text = values.astype("string[pyarrow]").str.strip()
    if lower:
        text = text.str.lower()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
    return _Text(text.astype(object).to_numpy(), blank)


def _clean_text_small(raw: np.ndarray, lower: bool) -> _Text | None:
    """A few ASCII strings, in Python; None when a value is anything else."""
    out: list[object] = []
    for v in raw:
        if v is None or v is pd.NA:
            out.append(pd.NA)
        elif type(v) is str and v.isascii():
            out.append(v.strip().lower() if lower else v.strip())
        else:
            return None
    blank = [v is pd.NA or v == "" for v in out]
    values = np.empty(len(out), dtype=object)
    values[:] = out
    return _Text(values, np.array(blank, dtype=bool))


# Arrow scalars made once: a Python value would be converted on every call.
_EMPTY = pa.scalar("", pa.large_string())
_TRUE_SCALAR = pa.scalar(True)
_FALSE_SCALAR = pa.scalar(False)


def _clean_text_arrow(raw: np.ndarray, lower: bool) -> _Text | None:
    """Strings, in Arrow, keeping the input's string objects where nothing changes.

    Sharing the objects keeps the output as small as the input (8 bytes a row);
    the rows that trimming does change get one new object per distinct value.
    None when the column holds anything but ``str`` and missing values.
    """
    if pd.api.types.infer_dtype(raw, skipna=True) != "string":
        return None
    try:
        arr = pa.array(raw, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return None
    clean = pc.utf8_trim_whitespace(arr)
    if lower:
        clean = pc.utf8_lower(clean)
    blank = _np_bool(pc.fill_null(pc.equal(clean, _EMPTY), _TRUE_SCALAR))
    changed = _np_bool(pc.fill_null(pc.not_equal(clean, arr), _FALSE_SCALAR))
    values = raw.copy()
    if arr.null_count:
        values[_np_bool(arr.is_null())] = pd.NA
    if changed.any():
        encoded = clean.filter(pa.array(changed)).dictionary_encode()
        distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
        values[changed] = distinct[encoded.indices.to_numpy(zero_copy_only=False)]
    return _Text(values, blank)


def _np_bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free Arrow boolean array as a numpy bool array."""
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _isin(values: np.ndarray, allowed: frozenset[str]) -> np.ndarray:
    """Which cleaned text values (``str`` or ``pd.NA``) are in ``allowed``."""
    return pd.Series(values, copy=False).isin(allowed).to_numpy()


def _clean_ids(values: pd.Series, column: str, col: _Collector) -> np.ndarray:
    """Trimmed ids; missing or empty ones are recorded as problems."""
    text = _clean_text(values)
    col.add(column, "missing or empty id", text.blank)
    return text.values


# ------------------------------------------------------------------------------ dates
_NAT = np.datetime64("NaT", "ns")
_MIN_DATE64 = _MIN_DATE.to_datetime64()
_MAX_DATE64 = _MAX_DATE.to_datetime64()


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates, timestamps and ISO-8601 strings with an offset into naive local time.

    An offset such as ``+02:00`` describes where the clock was, not a different
    day: the local wall-clock time is kept and the offset dropped, so that a
    purchase at 23:30 local time counts on the local calendar day. Unparseable or
    out-of-range values become ``NaT``.
    """
    parsed, _ = _parse_dates(values)
    return pd.Series(parsed, index=values.index, name=values.name)


def _parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parsed dates (``datetime64[ns]``, in range or NaT) and which inputs were blank."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = _as_naive_ns(values)
        return _in_range(stamps), np.isnat(stamps)
    if values.dtype == object and len(values) <= _SMALL_ROWS:
        # A request's few dates: pandas' string and date parsing have a fixed cost per
        # column many times that of a Python loop and numpy's ISO parser.
        text = _clean_text_small(values.to_numpy(), lower=False)
        if text is not None:
            return _parse_small_date_text(text, values.index), text.blank
    text_series, blank = _date_text(values)
    return _in_range(_parse_date_text(text_series)), blank


def _parse_small_date_text(text: _Text, index: pd.Index) -> np.ndarray:
    """A few trimmed date strings, offsets removed with the same ``re`` as pandas would use."""
    texts = [None if v is pd.NA else _OFFSET_RE.sub("", v) for v in text.values]
    parsed = _parse_iso_small(texts)
    if parsed is None:
        parsed = _parse_date_text(pd.Series(texts, index=index, dtype=object))
    return _in_range(parsed)


def _as_naive_ns(values: pd.Series) -> np.ndarray:
    """Timestamps as naive ``datetime64[ns]``; a tz-aware column keeps its wall-clock time."""
    if values.dtype == np.dtype("datetime64[ns]"):
        return values.to_numpy()
    out = values
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    return pd.to_datetime(out).astype("datetime64[ns]").to_numpy()


def _in_range(stamps: np.ndarray) -> np.ndarray:
    """A new array: ``stamps`` with values outside [1900, 2200) set to NaT."""
    ok = (stamps >= _MIN_DATE64) & (stamps < _MAX_DATE64)
    return np.where(ok, stamps, _NAT)


def _date_text(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Date strings trimmed and stripped of their offset (Arrow strings), and the blanks.

    The offset is removed with Arrow's regex engine when every string is ASCII
    (there it matches exactly as Python's ``re`` does); otherwise with ``re``.
    """
    text = values.astype("string[pyarrow]").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
    arr = pa.chunked_array(pa.array(text.array))
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        no_offset = pc.replace_substring_regex(arr, pattern=_OFFSET_RE.pattern, replacement="")
        text = pd.Series(pd.arrays.ArrowStringArray(no_offset), index=text.index, name=text.name)
    else:
        text = text.str.replace(_OFFSET_RE, "", regex=True)
    return text, blank


def _parse_date_text(text: pd.Series) -> np.ndarray:
    """ISO-8601 text as ``datetime64[ns]``; other forms (19970101, 01/31/1997) element-wise."""
    out = pd.to_datetime(text, errors="coerce", format="ISO8601")
    retry = out.isna() & text.notna() & (text != "")
    if retry.any():
        # Compact forms such as 19970101 or 01/31/1997: slower, element-wise.
        out.loc[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed")
    return out.astype("datetime64[ns]").to_numpy()


#: Plain ISO-8601 dates and times in years 1900-2199 (no offset: it is removed first),
#: which numpy parses exactly as pandas does (checked on 185k random strings); numpy
#: rejects impossible days, which then go to pandas.
_PLAIN_ISO_RE = re.compile(
    r"(?:19|20|21)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?)?"
)


def _parse_iso_small(texts: list[str | None]) -> np.ndarray | None:
    """A few ISO-8601 strings without Series overhead; None if any needs the slow route.

    Plain dates and times (what the HTTP schema accepts) are parsed by numpy in
    microseconds; anything else by ``pandas.to_datetime`` (~0.1 ms a call).
    """
    if all(not t or _PLAIN_ISO_RE.fullmatch(t) for t in texts):
        try:
            return np.array([t or "NaT" for t in texts], dtype="datetime64[ns]")
        except ValueError:  # e.g. 2023-02-29: pandas decides
            pass
    parsed = pd.to_datetime(np.array(texts, dtype=object), errors="coerce", format="ISO8601")
    if parsed.dtype != np.dtype("datetime64[ns]"):
        return None
    stamps = parsed.to_numpy()
    failed = np.isnat(stamps) & np.array([t is not None and t != "" for t in texts], dtype=bool)
    return None if failed.any() else stamps


def _dates(frame: pd.DataFrame, column: str, col: _Collector, required: bool = True) -> np.ndarray:
    """Parsed ``column``; blank (if ``required``) and unparseable dates are problems."""
    parsed, blank = _parse_dates(frame[column])
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
    text = _clean_text(values, lower=True)
    known = text.blank | _isin(text.values, _KNOWN_BOOLEANS)
    col.add(column, "not a boolean (use true/false, yes/no or 1/0)", ~known)
    return _isin(text.values, _TRUE_WORDS)


# ------------------------------------------------------------------------------ orders
_MERGED_COLUMNS = ("customer_id", "order_id", "order_date", "amount", "channel")


def _channels(frame: pd.DataFrame) -> np.ndarray:
    """Lower-case channel labels; missing or empty is ``"unknown"``."""
    if "channel" not in frame.columns:
        return np.full(len(frame), "unknown", dtype=object)
    text = _clean_text(frame["channel"], lower=True)
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
    vectorised comparison, and any other order is settled by a sort.
    """
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
        order = _clean_text(frame["order_id"])
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
        coerced["signup_date"] = np.full(n, _NAT)
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
    types = _clean_text(frame["event_type"], lower=True)
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
