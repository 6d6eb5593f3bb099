"""A readable overview of validated tables (what ``churnml validate`` prints)."""

from __future__ import annotations

from churnml.data.contract import CONSENT_COLUMNS, InputTables

_DATE_COLUMNS = {
    "transactions": "order_date",
    "customers": "signup_date",
    "events": "event_date",
    "campaigns": "sent_date",
}


def describe_tables(tables: InputTables) -> list[dict[str, object]]:
    """One dict per table: rows, customers, date range and table-specific notes."""
    rows: list[dict[str, object]] = []
    for name, date_col in _DATE_COLUMNS.items():
        frame = getattr(tables, name)
        if frame is None:
            continue
        dates = frame[date_col].dropna()
        notes: list[str] = []
        if name == "transactions":
            notes.append(f"{int((frame['amount'] < 0).sum()):,} refund rows")
            notes.append(f"{int((frame['amount'] == 0).sum()):,} zero-value orders")
            notes.append(
                "channels: "
                + ", ".join(
                    f"{k} {v:.0%}"
                    for k, v in frame["channel"].value_counts(normalize=True).head(4).items()
                )
            )
        elif name == "customers":
            for c in CONSENT_COLUMNS:
                notes.append(f"{c} {frame[c].mean():.0%}")
        elif name == "events":
            notes.append("types: " + ", ".join(frame["event_type"].value_counts().head(6).index))
        elif name == "campaigns":
            notes.append(
                f"{frame['campaign_id'].nunique()} campaign(s), {frame['treated'].mean():.0%} treated"
            )
        rows.append(
            {
                "table": name,
                "rows": len(frame),
                "customers": int(frame["customer_id"].nunique()),
                "from": str(dates.min().date()) if len(dates) else "-",
                "to": str(dates.max().date()) if len(dates) else "-",
                "notes": "; ".join(notes),
            }
        )
    return rows
