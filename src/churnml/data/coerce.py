"""Raw columns to the contract's types: trimmed text and naive timestamps.

The validators of :mod:`churnml.data.contract` call these for every id, label and
date column. Text is trimmed (and maybe lower-cased) as an Arrow string would be;
dates become naive ``datetime64[ns]`` in local wall-clock time (a UTC offset is dropped,
not applied), NaT outside [1900, 2200).
Columns of ``str`` are checked in one Arrow pass that keeps the caller's string
objects. A request's few values (columns of at most ``_SMALL_ROWS`` rows: ids, labels
and date strings) take Python and numpy instead, where the fixed cost of an Arrow or
pandas call per column would dominate; that is the one size switch of the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_MIN_DATE = pd.Timestamp("1900-01-01")
_MAX_DATE = pd.Timestamp("2200-01-01")
_OFFSET_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")

#: Columns with at most this many rows take the Python route (:func:`few_rows`): for a
#: request's few values it is 10x faster than Arrow at cleaning ids, 25-50x at checking
#: order ids for repeats and 48x faster than pandas at parsing dates; Arrow wins from
#: ~300 strings on.
_SMALL_ROWS = 256


def few_rows(n: int) -> bool:
    """Whether a column of ``n`` rows is checked in Python rather than Arrow or pandas.

    The package's one size switch: the fixed cost of an Arrow or pandas call per column
    dominates a one-customer HTTP request, and a Python loop is slow for millions.
    """
    return n <= _SMALL_ROWS


# Every text column is "trimmed (and maybe lower-cased) as an Arrow string would be".
# The definition is _clean_text_pandas (any objects: numbers become their ``str``).
# Columns of ``str`` and None take _clean_text_arrow instead: one Arrow pass that
# only *checks* the strings and keeps the caller's string objects when trimming
# changes nothing (the usual case), instead of building a new Python string per row.
# _clean_text_small, the same rule for plain ASCII in a Python loop, serves the
# few values of a request (columns of at most _SMALL_ROWS rows) and their dates. Python's ``str.strip`` and
# Arrow's ``utf8_trim_whitespace`` remove the same characters, and lower-casing
# agrees on ASCII; tests compare the three.


@dataclass(frozen=True)
class Text:
    """A cleaned text column: values (``str``, or ``pd.NA`` where missing) and blanks.

    ``values`` is always a new array that the caller may modify; ``blank`` marks
    rows that are missing or empty after trimming.
    """

    values: np.ndarray
    blank: np.ndarray


def clean_text(values: pd.Series, lower: bool = False) -> Text:
    """``values`` as text, trimmed (and lower-cased): the contract's rule for ids and labels."""
    if values.dtype == object:
        raw = values.to_numpy()
        strings = _clean_text_small(raw, lower) if few_rows(len(raw)) else None
        if strings is None:
            strings = _clean_text_arrow(raw, lower)
        if strings is not None:
            return strings
    return _clean_text_pandas(values, lower)


def _clean_text_pandas(values: pd.Series, lower: bool) -> Text:
    """The reference definition: any dtype, any objects (numbers become their ``str``)."""
    text = values.astype("string[pyarrow]").str.strip()
    if lower:
        text = text.str.lower()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
    return Text(text.astype(object).to_numpy(), blank)


def _clean_text_small(raw: np.ndarray, lower: bool) -> Text | None:
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
    return Text(values, np.array(blank, dtype=bool))


# Arrow scalars made once: a Python value would be converted on every call.
_EMPTY = pa.scalar("", pa.large_string())
_TRUE_SCALAR = pa.scalar(True)
_FALSE_SCALAR = pa.scalar(False)


def _clean_text_arrow(raw: np.ndarray, lower: bool) -> Text | None:
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
    return Text(values, blank)


def _np_bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free Arrow boolean array as a numpy bool array."""
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


# ------------------------------------------------------------------------------ dates
NAT = np.datetime64("NaT", "ns")
_MIN_DATE64 = _MIN_DATE.to_datetime64()
_MAX_DATE64 = _MAX_DATE.to_datetime64()


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates, timestamps and ISO-8601 strings with an offset into naive local time.

    An offset such as ``+02:00`` describes where the clock was, not a different
    day: the local wall-clock time is kept and the offset dropped, so that a
    purchase at 23:30 local time counts on the local calendar day. Unparseable or
    out-of-range values become ``NaT``.
    """
    parsed, _ = parse_date_column(values)
    return pd.Series(parsed, index=values.index, name=values.name)


def parse_date_column(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parsed dates (``datetime64[ns]``, in range or NaT) and which inputs were blank."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = _as_naive_ns(values)
        return _in_range(stamps), np.isnat(stamps)
    if values.dtype == object and few_rows(len(values)):
        # A request's few dates: pandas' string and date parsing have a fixed cost per
        # column many times that of a Python loop and numpy's ISO parser.
        text = _clean_text_small(values.to_numpy(), lower=False)
        if text is not None:
            return _parse_small_date_text(text, values.index), text.blank
    text_series, blank = _date_text(values)
    return _in_range(_parse_date_text(text_series)), blank


def _parse_small_date_text(text: Text, index: pd.Index) -> np.ndarray:
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
    return np.where(ok, stamps, NAT)


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
