"""Figures of the churn evaluation: the prediction-quality plots and a shared canvas.

matplotlib is imported inside the functions, never at module level, so that the
metric modules and the models stay importable (and fast to import) without it.
Figures are drawn on matplotlib's Agg canvas; pyplot's global state is not touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.evaluation.quality import QualityReport

DPI = 110


def new_figure(width: float = 7.0, height: float = 4.8) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas and its single axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_figures(figures: dict[str, Figure], directory: str | Path) -> list[Path]:
    """Write each figure as ``<directory>/<name>.png`` (the folder is created)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=DPI, format="png")
        paths.append(path)
    return paths


def plot_deciles(report: QualityReport) -> Figure:
    """Actual against predicted churn rate per score decile (bars and markers)."""
    fig, ax = new_figure()
    d = report.deciles
    x = d.index.to_numpy()
    ax.bar(x, d["actual_churn_rate"], color="tab:blue", alpha=0.7, label="actual churn rate")
    ax.plot(x, d["predicted_churn_rate"], "o-", color="tab:orange", label="predicted churn rate")
    base = float(np.average(d["actual_churn_rate"], weights=d["customers"]))
    ax.axhline(base, color="grey", linestyle=":", label=f"overall rate {base:.1%}")
    ax.set(
        xlabel="score decile (1 = highest risk)",
        ylabel="churn rate",
        title=f"Actual vs predicted churn per decile — {report.title}",
        xticks=x,
        ylim=(0, 1),
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_lift(report: QualityReport) -> Figure:
    """Lift over random by audience size, beside the best achievable lift."""
    fig, ax = new_figure()
    lift = report.lift
    share = lift.index.to_numpy() * 100
    ax.plot(share, lift["lift"], "o-", label=f"model (mean {report.average_lift:.2f}x)")
    ax.plot(share, lift["perfect_lift"], ":", color="green", label="best possible")
    ax.axhline(1.0, color="grey", linestyle=":", label="random")
    ax.set(
        xlabel="audience: % of customers contacted (highest risk first)",
        ylabel="lift over random",
        title=f"Lift: {report.grade} — {report.title}",
        ylim=(0, None),
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_histogram(report: QualityReport) -> Figure:
    """Stacked histogram of the churn probability of churners and non-churners."""
    fig, ax = new_figure()
    h = report.histogram
    width = float((h["bin_end"] - h["bin_start"]).iloc[0])
    ax.bar(h["bin_start"], h["non_churners"], width=width, align="edge", label="bought again")
    ax.bar(
        h["bin_start"],
        h["churners"],
        width=width,
        align="edge",
        bottom=h["non_churners"],
        label="churned",
    )
    ax.set(
        xlabel="predicted churn probability",
        ylabel="customers",
        title=f"Score histogram — {report.title}",
        xlim=(0, 1),
    )
    ax.legend(loc="upper center", fontsize=8)
    return fig


def quality_figures(report: QualityReport) -> dict[str, Figure]:
    """The three prediction-quality plots by file stem."""
    return {
        "deciles": plot_deciles(report),
        "lift": plot_lift(report),
        "score_histogram": plot_histogram(report),
    }
