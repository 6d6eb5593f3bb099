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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def _clean_ids(values: pd.Series, column: str, col: _Collector) -> pd.Series:
    # Arrow-backed strings: trimming ten million ids takes a fraction of a second.
    ids = values.astype("string[pyarrow]").str.strip()
    col.add(
        column,
        "missing or empty id",
        (ids.isna() | (ids == "")).to_numpy(dtype=bool, na_value=True),
    )
    return ids.astype(object)


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates, timestamps and ISO-8601 strings with an offset into naive local time.

    An offset such as ``+02:00`` describes where the clock was, not a different
    day: the local wall-clock time is kept and the offset dropped, so that a
    purchase at 23:30 local time counts on the local calendar day. Unparseable or
    out-of-range values become ``NaT``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if isinstance(out.dtype, pd.DatetimeTZDtype):
            out = out.dt.tz_localize(None)
        out = pd.to_datetime(out).astype("datetime64[ns]")
    else:
        text = values.astype("string[pyarrow]").str.strip()
        text = text.str.replace(_OFFSET_RE, "", regex=True)
        out = pd.to_datetime(text, errors="coerce", format="ISO8601")
        retry = out.isna() & text.notna() & (text != "")
        if retry.any():
            # Compact forms such as 19970101 or 01/31/1997: slower, element-wise.
            out.loc[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed")
        out = out.astype("datetime64[ns]")
    return out.where((out >= _MIN_DATE) & (out < _MAX_DATE))


def _dates(frame: pd.DataFrame, column: str, col: _Collector, required: bool = True) -> pd.Series:
    raw = frame[column]
    parsed = parse_dates(raw)
    if pd.api.types.is_datetime64_any_dtype(raw):
        blank = raw.isna()
    else:
        blank = raw.isna() | (raw.astype("string[pyarrow]").str.strip() == "")
    if required:
        col.add(column, "missing date", blank.to_numpy())
    col.add(
        column,
        "unparseable or out-of-range date (expected e.g. 2024-03-31 or 2024-03-31T18:05:00+02:00)",
        (parsed.isna() & ~blank).to_numpy(),
    )
    return parsed


def _amounts(frame: pd.DataFrame, column: str, col: _Collector) -> pd.Series:
    raw = frame[column]
    num = pd.to_numeric(raw, errors="coerce").astype("float64")
    blank = raw.isna()
    col.add(column, "missing amount (NaN)", blank.to_numpy())
    col.add(column, "not a number", (num.isna() & ~blank).to_numpy())
    col.add(column, "infinite amount", np.isinf(num.to_numpy()))
    return num


def _booleans(values: pd.Series, column: str, col: _Collector) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    text = values.astype("string[pyarrow]").str.strip().str.lower().fillna("")
    ok = text.isin(_TRUE | _FALSE)
    col.add(column, "not a boolean (use true/false, yes/no or 1/0)", (~ok).to_numpy())
    return text.isin(_TRUE).astype(bool)


def validate_transactions(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a transactions table; merge rows of one order.

    Negative amounts are refunds or returns and are kept. Rows with the same
    ``customer_id`` and ``order_id`` are one order: their amounts are summed and
    the earliest timestamp is kept.
    """
    col = _Collector("transactions")
    if not _require(frame, ("customer_id", "order_date", "amount"), col):
        col.raise_if_any()
    ids = _clean_ids(frame["customer_id"], "customer_id", col)
    dates = _dates(frame, "order_date", col)
    amounts = _amounts(frame, "amount", col)
    col.raise_if_any()

    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "order_date": dates.to_numpy(),
            "amount": amounts.to_numpy(),
        }
    )
    if "channel" in frame.columns:
        out["channel"] = (
            frame["channel"]
            .astype("string[pyarrow]")
            .str.strip()
            .str.lower()
            .fillna("unknown")
            .replace("", "unknown")
            .astype(object)
            .to_numpy()
        )
    else:
        out["channel"] = "unknown"
    if "order_id" in frame.columns:
        order = frame["order_id"].astype("string[pyarrow]").str.strip()
        has_order = order.notna() & (order != "")
        if has_order.any():
            out["order_id"] = order.astype(object).to_numpy()
            keyed = out[has_order.to_numpy()]
            merged = keyed.groupby(["customer_id", "order_id"], sort=False, as_index=False).agg(
                order_date=("order_date", "min"),
                amount=("amount", "sum"),
                channel=("channel", "first"),
            )
            out = pd.concat([merged, out[~has_order.to_numpy()]], ignore_index=True)
        else:
            out["order_id"] = None
    return out


def validate_customers(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a customers table (one row per customer)."""
    col = _Collector("customers")
    if not _require(frame, ("customer_id",), col):
        col.raise_if_any()
    out = frame.copy()
    out["customer_id"] = _clean_ids(frame["customer_id"], "customer_id", col).to_numpy()
    col.add(
        "customer_id",
        "duplicate customer row",
        out["customer_id"].duplicated(keep="first").to_numpy(),
    )
    if "signup_date" in frame.columns:
        out["signup_date"] = _dates(frame, "signup_date", col, required=False).to_numpy()
    else:
        out["signup_date"] = pd.NaT
    for c in CONSENT_COLUMNS:
        out[c] = _booleans(frame[c], c, col).to_numpy() if c in frame.columns else False
    col.raise_if_any()
    return out.reset_index(drop=True)


def validate_events(frame: pd.DataFrame, strict: bool = False) -> pd.DataFrame:
    """Check and coerce an events table; with ``strict``, reject unknown event types."""
    col = _Collector("events")
    if not _require(frame, ("customer_id", "event_date", "event_type"), col):
        col.raise_if_any()
    ids = _clean_ids(frame["customer_id"], "customer_id", col)
    dates = _dates(frame, "event_date", col)
    types = frame["event_type"].astype("string[pyarrow]").str.strip().str.lower()
    col.add("event_type", "missing event type", (types.isna() | (types == "")).to_numpy())
    if strict:
        col.add(
            "event_type",
            f"unknown event type (known: {', '.join(EVENT_TYPES)})",
            (~types.isin(EVENT_TYPES) & types.notna() & (types != "")).to_numpy(),
        )
    col.raise_if_any()
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "event_date": dates.to_numpy(),
            "event_type": types.astype(object).to_numpy(),
        }
    )


def validate_campaigns(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a campaign-history table (treated and held-out contacts)."""
    col = _Collector("campaigns")
    required = ("customer_id", "campaign_id", "sent_date", "action", "treated", "converted")
    if not _require(frame, required, col):
        col.raise_if_any()
    out = pd.DataFrame(
        {"customer_id": _clean_ids(frame["customer_id"], "customer_id", col).to_numpy()}
    )
    out["campaign_id"] = _clean_ids(frame["campaign_id"], "campaign_id", col).to_numpy()
    out["sent_date"] = _dates(frame, "sent_date", col).to_numpy()
    out["action"] = _clean_ids(frame["action"], "action", col).to_numpy()
    out["treated"] = _booleans(frame["treated"], "treated", col).to_numpy()
    out["converted"] = _booleans(frame["converted"], "converted", col).to_numpy()
    if "revenue" in frame.columns:
        rev = pd.to_numeric(frame["revenue"], errors="coerce")
        col.add(
            "revenue",
            "not a finite number",
            (~np.isfinite(rev.to_numpy(dtype=float)) & frame["revenue"].notna().to_numpy()),
        )
        out["revenue"] = rev.fillna(0.0).to_numpy(dtype=float)
    else:
        out["revenue"] = 0.0
    for extra in ("channel", "segment"):
        if extra in frame.columns:
            out[extra] = frame[extra].to_numpy()
    col.raise_if_any()
    return out


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
