"""``monitor.png``: PSI per column, the score distribution and, when matured, calibration.

matplotlib is imported inside the function, so the monitoring library imports without
it; the figure is drawn on its own Agg canvas and pyplot's global state is not touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.monitoring.check import MonitorResult

#: Columns shown in the PSI chart (largest PSI first).
TOP_COLUMNS = 20


def monitor_figure(result: MonitorResult) -> Figure:
    """One figure with two panels, three when the labels of a scores file have matured."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    deciles = result.outcomes.deciles if result.outcomes is not None else None
    panels = 3 if deciles is not None else 2
    fig = Figure(figsize=(6.0 * panels, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    cfg = result.config

    top = result.drift.table.head(TOP_COLUMNS).iloc[::-1]
    colours = {"ok": "#4c9a5f", "warn": "#e0a030", "alert": "#c0392b"}
    ax = axes[0]
    ax.barh(top["column"], top["psi"], color=[colours[s] for s in top["status"]])
    ax.axvline(cfg.psi_warn, color=colours["warn"], linestyle="--", label=f"warn {cfg.psi_warn}")
    ax.axvline(
        cfg.psi_alert, color=colours["alert"], linestyle="--", label=f"alert {cfg.psi_alert}"
    )
    ax.set_xlabel("PSI against the training reference")
    ax.set_title(f"Largest PSI, batch as of {result.as_of.date()}")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right")

    ax = axes[1]
    ref = result.reference.scores["churn_probability"]
    labels = ref.labels()
    x = np.arange(len(labels))
    ax.bar(x - 0.2, ref.proportions, width=0.4, label=f"training ({result.reference.as_of})")
    ax.bar(x + 0.2, result.batch_score.proportions, width=0.4, label="batch")
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("share of customers")
    ax.set_title("churn_probability by training bin")
    ax.legend()

    if deciles is not None and result.outcomes is not None:
        ax = axes[2]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
        ax.plot(
            deciles["predicted_churn_rate"],
            deciles["actual_churn_rate"],
            marker="o",
            label=f"AUC {result.outcomes.auc:.3f}",
        )
        ax.set_xlabel("mean predicted churn (score decile)")
        ax.set_ylabel("actual churn rate")
        ax.set_title(f"Scores as of {result.outcomes.scores_as_of.date()}, matured")
        ax.legend()
    return fig
