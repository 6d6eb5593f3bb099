"""Render the report as one self-contained HTML file (Jinja2 template, PNG data URIs).

Everything the page shows is inside the file: figures are base64 PNG data URIs and
the style sheet is inline, so the report can be mailed, attached to a ticket or
opened on a laptop without network. Values are formatted here; the markup lives
in ``templates/report.html.j2`` and is autoescaped.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from churnml.data.io import atomic_path
from churnml.reporting.figures import ReportFigure
from churnml.reporting.kpis import CustomerBaseKPIs

TEMPLATE = "report.html.j2"

#: How a column is shown: its header and a format (int, money, pct, num, text).
_Columns = Mapping[str, tuple[str, str]]

_GROUP_COLUMNS: _Columns = {
    "customers": ("customers", "int"),
    "share_of_customers": ("% customers", "pct"),
    "revenue": ("net revenue", "money"),
    "share_of_revenue": ("% revenue", "pct"),
    "revenue_per_customer": ("revenue / customer", "money"),
    "aov": ("AOV", "money"),
    "orders_per_buyer": ("orders / buyer", "num"),
    "repeat_rate": ("repeat rate", "pct"),
    "mean_clv": ("mean CLV", "money"),
    "mean_p_alive": ("mean P(alive)", "pct"),
    "mean_churn_probability": ("mean churn risk", "pct"),
}
_CHANNEL_COLUMNS: _Columns = {
    "customers": ("customers", "int"),
    "orders": ("orders", "int"),
    "revenue": ("net revenue", "money"),
    "share_of_revenue": ("% revenue", "pct"),
    "aov": ("AOV", "money"),
    "orders_per_customer": ("orders / customer", "num"),
}
_TIER_COLUMNS: _Columns = {
    "customers": ("customers", "int"),
    "share_of_customers": ("% customers", "pct"),
    "min_clv": ("from CLV", "money"),
    "mean_clv": ("mean CLV", "money"),
    "total_clv": ("total CLV", "money"),
    "share_of_clv": ("% CLV", "pct"),
    "revenue": ("net revenue", "money"),
}
_RISK_COLUMNS: _Columns = {
    "customers": ("customers", "int"),
    "share_of_customers": ("% customers", "pct"),
    "mean_p_alive": ("mean P(alive)", "pct"),
    "total_clv": ("CLV", "money"),
}
_CAMPAIGN_COLUMNS: _Columns = {
    "sent_date": ("sent", "text"),
    "n_treated": ("treated", "int"),
    "n_control": ("control", "int"),
    "conversion_treated": ("conv. treated", "pct"),
    "conversion_control": ("conv. control", "pct"),
    "conversion_lift": ("conv. lift", "points"),
    "revenue_treated": ("revenue / treated", "money"),
    "revenue_control": ("revenue / control", "money"),
    "revenue_lift": ("revenue lift / customer", "signed"),
    "incremental_revenue": ("incremental revenue", "signed"),
}


def _format(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "text":
        return str(value)
    number = float(value)
    return {
        "int": f"{number:,.0f}",
        "money": f"{number:,.2f}",
        "signed": f"{number:+,.2f}",
        "pct": f"{number:.1%}",
        "points": f"{number * 100:+.1f} pts",
        "num": f"{number:,.2f}",
    }[kind]


def table(frame: pd.DataFrame, columns: _Columns) -> dict[str, Any]:
    """A frame as header and formatted rows for the template (index first)."""
    shown = [c for c in columns if c in frame.columns]
    return {
        "headers": [frame.index.name or "", *(columns[c][0] for c in shown)],
        "rows": [
            [str(idx), *(_format(row[c], columns[c][1]) for c in shown)]
            for idx, row in frame.iterrows()
        ],
    }


def _retention_table(kpis: CustomerBaseKPIs, months: int = 12) -> dict[str, Any]:
    shares = kpis.retention.shares
    cols = [k for k in shares.columns if 1 <= k <= months]
    return {
        "headers": ["cohort", "customers", *(f"M{k}" for k in cols)],
        "rows": [
            [cohort, f"{size:,}", *(_format(shares.at[cohort, k], "pct") for k in cols)]
            for cohort, size in kpis.retention.sizes.items()
        ],
    }


def _headline(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("customers", _format(h["customers"], "int")),
        ("orders", _format(h["orders"], "int")),
        ("net revenue", _format(h["revenue"], "money")),
        ("AOV", _format(h["aov"], "money")),
        ("orders / buyer", _format(h["orders_per_buyer"], "num")),
        ("repeat-purchase rate", _format(h["repeat_rate"], "pct")),
        ("omnichannel share", _format(h["omnichannel_share"], "pct")),
        ("mean CLV", _format(h["mean_clv"], "money")),
        ("total CLV", _format(h["total_clv"], "money")),
        ("mean P(alive)", _format(h["mean_p_alive"], "pct")),
        ("mean churn risk", _format(h["mean_churn_probability"], "pct")),
    ]


def render_html(kpis: CustomerBaseKPIs, figures: Sequence[ReportFigure], model: str = "") -> str:
    """The report page; ``model`` names where the scores came from (shown in the header)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    images = {
        f.name: {
            "title": f.title,
            "caption": f.caption,
            "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii"),
        }
        for f in figures
    }
    tables = {
        "retention": _retention_table(kpis),
        "channel": table(kpis.by_channel, _CHANNEL_COLUMNS),
        "segment": table(kpis.by_segment, _GROUP_COLUMNS),
        "omnichannel": table(kpis.omnichannel, _GROUP_COLUMNS),
        "tiers": table(kpis.value_tiers, _TIER_COLUMNS),
        "risk": table(kpis.risk_bands, _RISK_COLUMNS),
    }
    if kpis.campaigns is not None:
        tables["campaigns"] = table(kpis.campaigns, _CAMPAIGN_COLUMNS)
    return env.get_template(TEMPLATE).render(
        h=kpis.headline,
        headline=_headline(kpis.headline),
        figures=images,
        n_figures=len(figures),
        tables=tables,
        has_campaigns=kpis.campaigns is not None,
        model=model,
        omnichannel_share=_format(kpis.headline["omnichannel_share"], "pct"),
    )


def write_html(html: str, path: str | os.PathLike[str]) -> Path:
    """Write the page atomically: the old file or the complete new one, never half of it.

    The page is meant to be shared: readable by others (0644), not the private mode
    of the temporary file it was written to.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
        tmp.chmod(0o644)
    return Path(path)
