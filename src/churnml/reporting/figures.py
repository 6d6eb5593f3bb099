"""The report's figures as PNG bytes (matplotlib, Agg, no pyplot state).

Each figure is drawn on its own ``Figure`` with an Agg canvas, so that rendering a
report in a server or a test never opens a window, never touches pyplot's global
figure list and gives the same bytes on every machine with the same fonts.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnml.reporting.cohorts import CohortRetention
from churnml.reporting.kpis import CustomerBaseKPIs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Pixels per inch of every PNG: sharp on a laptop screen, ~30-80 KB a figure.
DPI = 96


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: a file-safe ``name``, a title, a caption and the PNG."""

    name: str
    title: str
    caption: str
    png: bytes


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def retention_heatmap(retention: CohortRetention) -> Figure:
    """Cohort x months-since-first-order shares, the darker the more customers came back."""
    shares = retention.shares
    fig = _figure(11, max(3.0, 0.28 * len(shares) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    if shares.empty:
        ax.text(0.5, 0.5, "no orders before the cut-off", ha="center", va="center")
        ax.set_axis_off()
        return fig
    values = shares.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(shares)))
    labels = [f"{c} (n={n:,})" for c, n in zip(shares.index, retention.sizes, strict=True)]
    ax.set_yticklabels(labels, fontsize=7)
    step = max(1, values.shape[1] // 24)
    ax.set_xticks(np.arange(0, values.shape[1], step))
    ax.set_xlabel("months since the first order")
    fig.colorbar(image, ax=ax, label="share of the cohort who ordered")
    if values.shape[1] <= 24 and len(shares) <= 24:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v) and j > 0:
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6)
    return fig


def channel_bars(kpis: CustomerBaseKPIs) -> Figure:
    """Revenue, AOV and orders per customer by channel, side by side."""
    panels = (
        ("revenue", "net revenue"),
        ("aov", "average order value"),
        ("orders_per_customer", "orders per customer"),
    )
    return _bar_panels(kpis.by_channel, panels, height=3.4, rotation=30)


def segment_bars(kpis: CustomerBaseKPIs) -> Figure:
    """Share of customers against share of revenue and CLV per lifecycle segment."""
    frame = kpis.by_segment
    fig = _figure(11, 3.6)
    ax = fig.add_subplot(1, 2, 1)
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["share_of_customers"], width=0.4, label="customers")
    ax.bar(x + 0.2, frame["share_of_revenue"], width=0.4, label="revenue")
    ax.set_xticks(x)
    ax.set_xticklabels(frame.index.astype(str), rotation=30)
    ax.set_title("share of customers and of revenue")
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    ax.bar(x, frame["mean_clv"].fillna(0.0), color="C2")
    ax.set_xticks(x)
    ax.set_xticklabels(frame.index.astype(str), rotation=30)
    ax.set_title("mean CLV")
    return fig


def omnichannel_bars(kpis: CustomerBaseKPIs) -> Figure:
    """What an omnichannel customer is worth next to a single-channel one."""
    panels = (
        ("share_of_customers", "share of customers"),
        ("revenue_per_customer", "revenue per customer"),
        ("mean_clv", "mean CLV"),
    )
    return _bar_panels(kpis.omnichannel, panels, height=3.2, colors=["C1", "C7"])


def _bar_panels(
    frame: pd.DataFrame,
    panels: tuple[tuple[str, str], ...],
    height: float,
    rotation: int = 0,
    colors: list[str] | None = None,
) -> Figure:
    """One bar chart per ``(column, title)`` of ``panels``, side by side, bars per row of
    ``frame``; each panel in its own colour unless ``colors`` colours the rows."""
    fig = _figure(11, height)
    for k, (column, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        color = colors[: len(frame)] if colors else f"C{k}"
        ax.bar(
            frame.index.astype(str), frame[column].fillna(0.0).to_numpy(dtype=float), color=color
        )
        ax.set_title(label)
        if rotation:
            ax.tick_params(axis="x", rotation=rotation)
    return fig


def clv_histogram(kpis: CustomerBaseKPIs) -> Figure:
    """The CLV distribution with the lower bound of each value tier."""
    clv = kpis.customers["clv"].dropna().to_numpy(dtype=float)
    fig = _figure(11, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    top = float(np.quantile(clv, 0.99)) if clv.size else 1.0
    ax.hist(np.clip(clv, None, top), bins=60, color="C0")
    for k, (tier, low) in enumerate(kpis.value_tiers["min_clv"].items()):
        if k:  # the lowest tier starts at the smallest CLV
            ax.axvline(low, color="C3", linewidth=0.8)
            ax.text(low, ax.get_ylim()[1] * 0.95, f" {tier}", color="C3", fontsize=8, va="top")
    ax.set_xlabel("CLV (values above the 99th percentile shown at it)")
    ax.set_ylabel("customers")
    return fig


def risk_histograms(kpis: CustomerBaseKPIs) -> Figure:
    """P(alive) and churn probability over the customer base."""
    fig = _figure(11, 3.2)
    bins = [k / 40 for k in range(41)]
    for k, (column, label) in enumerate(
        (("p_alive", "P(alive), BG/NBD"), ("churn_probability", "churn probability"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.hist(kpis.customers[column].dropna(), bins=bins, color=f"C{k + 4}")
        ax.set_title(label)
        ax.set_ylabel("customers")
    return fig


def campaign_lift(kpis: CustomerBaseKPIs) -> Figure:
    """Conversion and revenue per customer, treated minus control, with intervals."""
    frame = kpis.campaigns if kpis.campaigns is not None else pd.DataFrame()
    fig = _figure(11, 1.6 + 0.4 * len(frame))
    y = np.arange(len(frame))[::-1]
    for k, (key, scale, label) in enumerate(
        (
            ("conversion", 100.0, "conversion lift (points)"),
            ("revenue", 1.0, "revenue lift per customer"),
        )
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        mid = frame[f"{key}_lift"].to_numpy(dtype=float) * scale
        low = frame[f"{key}_lift_low"].to_numpy(dtype=float) * scale
        high = frame[f"{key}_lift_high"].to_numpy(dtype=float) * scale
        err = np.vstack([np.maximum(mid - low, 0), np.maximum(high - mid, 0)])
        ax.errorbar(mid, y, xerr=err, fmt="o", capsize=3, color=f"C{k}")
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(frame.index.astype(str) if k == 0 else [])
        ax.set_xlabel(label)
    return fig


#: name, title, caption, drawing function; in the order of the report.
_FIGURES: tuple[tuple[str, str, str, Callable[[CustomerBaseKPIs], Figure]], ...] = (
    (
        "cohort_retention",
        "Cohort retention",
        "Share of each first-order cohort that ordered again k months later.",
        lambda kpis: retention_heatmap(kpis.retention),
    ),
    ("by_channel", "By channel", "Net revenue, AOV and orders per customer.", channel_bars),
    (
        "by_segment",
        "By lifecycle segment",
        "Where the customers, the revenue and the value sit.",
        segment_bars,
    ),
    (
        "omnichannel",
        "Omnichannel vs single channel",
        "Customers who ordered in two or more channels against the others.",
        omnichannel_bars,
    ),
    (
        "clv",
        "CLV distribution",
        "Customer lifetime value with the value-tier bounds.",
        clv_histogram,
    ),
    ("risk", "P(alive) and churn risk", "How alive and how likely to churn.", risk_histograms),
    (
        "campaign_lift",
        "Campaign lift",
        "Treated minus control per campaign, with 95% intervals.",
        campaign_lift,
    ),
)


def render_figures(kpis: CustomerBaseKPIs) -> list[ReportFigure]:
    """Every figure of the report as PNG, in report order (no lift plot without campaigns)."""
    out = []
    for name, title, caption, draw in _FIGURES:
        if name == "campaign_lift" and (kpis.campaigns is None or kpis.campaigns.empty):
            continue
        out.append(ReportFigure(name, title, caption, _png(draw(kpis))))
    return out
