"""Request bodies from contract-shaped tables: what a client sends to score its customers.

The inverse of :func:`churnml.serving.requests.request_frames`, for clients, tests and
benchmarks that hold batch files and call the HTTP service.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pandas as pd

from churnml.data.contract import CONSENT_COLUMNS
from churnml.serving.requests import CAMPAIGN_FIELDS


def payload_from_tables(
    transactions: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    customer_ids: Sequence[object] | None = None,
) -> list[dict[str, Any]]:
    """Request ``customers`` entries built from contract-shaped tables (raw or validated).

    What a client (or a test, or a benchmark) sends to score the customers of batch
    files over HTTP. Timestamps become ISO-8601 strings; missing optional values are
    left out.

    Parameters
    ----------
    transactions, customers, events, campaigns
        Tables as the data contract describes them.
    customer_ids
        Customers to include, in this order (default: every customer with a transaction).
    """
    ids = [
        str(c)
        for c in (
            customer_ids
            if customer_ids is not None
            else pd.unique(transactions["customer_id"].astype(str))
        )
    ]
    wanted = set(ids)

    def rows(frame: pd.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if frame is None:
            return out
        keep = frame[frame["customer_id"].astype(str).isin(wanted)]
        for row in keep.to_dict(orient="records"):
            cid = str(row.pop("customer_id"))
            out[cid].append(
                {k: _json_value(v) for k, v in row.items() if _json_value(v) is not None}
            )
        return out

    orders, evs, camps = rows(transactions), rows(events), rows(campaigns)
    attrs = rows(customers)
    order_fields = {"order_date", "amount", "order_id", "channel"}
    event_fields = {"event_date", "event_type"}
    campaign_fields = set(CAMPAIGN_FIELDS)
    out = []
    for cid in ids:
        entry: dict[str, Any] = {
            "customer_id": cid,
            "orders": [{k: v for k, v in o.items() if k in order_fields} for o in orders[cid]],
        }
        if evs[cid]:
            entry["events"] = [{k: v for k, v in e.items() if k in event_fields} for e in evs[cid]]
        if camps[cid]:
            entry["campaigns"] = [
                {k: _campaign_value(k, v) for k, v in c.items() if k in campaign_fields}
                for c in camps[cid]
            ]
        if attrs[cid]:
            a = attrs[cid][0]
            if a.get("signup_date") is not None:
                entry["signup_date"] = a["signup_date"]
            for flag in CONSENT_COLUMNS:
                if flag in a:
                    entry[flag] = _truthy(a[flag])
        out.append(entry)
    return out


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "t", "yes", "y", "1", "1.0"}
    return bool(value)


def _campaign_value(key: str, value: Any) -> Any:
    if key in ("treated", "converted"):
        return _truthy(value)
    if key == "revenue":
        return float(value)
    return value
