"""A data fingerprint per training run: what exactly was the model trained on?

Row counts, customers, the date range and a content hash of every validated
input table. The hash is taken over the canonical (validated) frame, so the same
data gives the same hash whether it came from CSV or Parquet.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from churnml.data.contract import InputTables

_DATE_COLUMNS = {
    "transactions": "order_date",
    "customers": "signup_date",
    "events": "event_date",
    "campaigns": "sent_date",
}


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's values and column names (row order matters, index does not)."""
    digest = hashlib.sha256("|".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def data_fingerprint(tables: InputTables) -> dict[str, str | int]:
    """Flat ``data.<table>.<what>`` entries for every table present."""
    out: dict[str, str | int] = {}
    for name, date_col in _DATE_COLUMNS.items():
        frame: pd.DataFrame | None = getattr(tables, name)
        if frame is None:
            continue
        out[f"data.{name}.rows"] = len(frame)
        out[f"data.{name}.customers"] = int(frame["customer_id"].nunique())
        dates = frame[date_col].dropna()
        if len(dates):
            out[f"data.{name}.first_date"] = str(dates.min().date())
            out[f"data.{name}.last_date"] = str(dates.max().date())
        out[f"data.{name}.sha256"] = content_hash(frame)
    return out
