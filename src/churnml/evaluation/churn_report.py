"""Churn model evaluation against simple baselines, on the same rows: metrics, table, plots.

A churn score is only worth its complexity if it beats what a shop could compute
without it. :func:`evaluate_churn` scores the model and four baselines on exactly the
same customers and labels:

``recency``
    days since the last purchase (the classic heuristic);
``bgnbd_p_no_purchase``
    BG/NBD probability of no purchase in the churn window (a probability);
``bgnbd_expected_purchases``
    minus the BG/NBD expected purchases over the horizon;
``bgnbd_not_alive``
    1 - BG/NBD P(alive) (a probability; unusable on data where most customers
    bought once, since P(alive) = 1 for them);
``naive_lightgbm``
    when given: LightGBM on RFM and event counts trained at the single most recent
    labelled cut-off (:mod:`churnml.evaluation.naive`), the model a user could write
    in twenty lines; the shipped model should beat it to earn its complexity.

Metrics: ROC-AUC, PR-AUC (average precision), Brier score, log loss, expected
calibration error (ECE, 10 equal-width bins), and lift and capture rate in the top
decile of scores (ties at the decile boundary count in proportion). Brier, log loss
and ECE are reported for probabilities only (the model and the two BG/NBD
probabilities): the rank-only baselines have no such entries in ``metrics`` and "-"
in the table.

Plots (PNG through matplotlib's Agg canvas; pyplot's global state is not touched):
calibration curve, gains chart, ROC curves, the model's feature importance and the
prediction-quality plots of :mod:`churnml.evaluation.quality` (deciles, lift, histogram).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from churnml.evaluation.metrics import (
    calibration_table,
    expected_calibration_error,
    gains_curve,
    score_metrics,
    top_fraction_capture,
)
from churnml.evaluation.plots import new_figure, quality_figures, save_figures
from churnml.evaluation.quality import QualityReport, prediction_quality

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.models.churn import ChurnModel

__all__ = [
    "BASELINES",
    "ChurnReport",
    "calibration_table",
    "expected_calibration_error",
    "evaluate_churn",
    "gains_curve",
    "score_metrics",
    "top_fraction_capture",
]

#: Baseline name -> (input column, sign, is a probability). Score = sign * column
#: (1 - column for P(alive)); larger means more likely to churn.
BASELINES: dict[str, tuple[str, str, bool]] = {
    "recency": ("recency_days", "identity", False),
    "bgnbd_p_no_purchase": ("p_no_purchase", "identity", True),
    "bgnbd_expected_purchases": ("expected_purchases", "negate", False),
    "bgnbd_not_alive": ("p_alive", "complement", True),
}
_LABELS: dict[str, str] = {
    "churn": "churn model",
    "recency": "recency (days)",
    "bgnbd_p_no_purchase": "BG/NBD P(no purchase in window)",
    "bgnbd_expected_purchases": "BG/NBD -expected purchases",
    "bgnbd_not_alive": "BG/NBD 1 - P(alive)",
    "naive_lightgbm": "naive LightGBM (RFM + event counts)",
}
_METRIC_NAMES: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "top_decile_lift",
    "top_decile_capture",
)
_HEADERS: dict[str, str] = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "log_loss": "log loss",
    "ece": "ECE",
    "top_decile_lift": "top-decile lift",
    "top_decile_capture": "top-decile capture",
}


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


def _baseline_score(inputs: pd.DataFrame, name: str) -> np.ndarray | None:
    column, how, _ = BASELINES[name]
    if column not in inputs.columns:
        return None
    values = inputs[column].to_numpy(dtype=float)
    if how == "negate":
        values = -values
    elif how == "complement":
        values = 1.0 - values
    missing = np.isnan(values)
    if missing.all():
        return None
    if missing.any():  # "no information": rank those rows last (probability 0)
        floor = 0.0 if BASELINES[name][2] else float(np.nanmin(values)) - 1.0
        values = np.where(missing, floor, values)
    return values


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


@dataclass
class ChurnReport:
    """Metrics of the churn model and the baselines on the same rows, with plot data.

    Attributes
    ----------
    metrics
        Flat, MLflow-ready dict (finite values only): ``churn_<metric>``,
        ``baseline_<name>_<metric>``, plus ``n_rows``, ``churn_rate``,
        ``best_baseline_roc_auc`` and ``churn_roc_auc_gain`` (model minus best baseline).
    table
        One row per scorer (model first), one column per metric.
    """

    metrics: dict[str, float]
    table: pd.DataFrame
    y_true: np.ndarray = field(repr=False)
    scores: dict[str, np.ndarray] = field(repr=False)
    probabilities: tuple[str, ...] = ("churn",)
    feature_importance: pd.Series | None = field(default=None, repr=False)
    quality: QualityReport | None = field(default=None, repr=False)

    def to_markdown(self, floatfmt: str = ".4f") -> str:
        """The metrics table as Markdown ("-" where a metric does not apply)."""
        frame = self.table.rename(index=_LABELS, columns=_HEADERS)
        text = frame.map(lambda v: "-" if pd.isna(v) else format(v, floatfmt))
        header = "| scorer | " + " | ".join(text.columns) + " |"
        rule = "|---|" + "---:|" * len(text.columns)
        body = ["| " + str(idx) + " | " + " | ".join(row) + " |" for idx, row in text.iterrows()]
        note = (
            f"\n\n{int(self.metrics['n_rows']):,} customers, churn rate "
            f"{self.metrics['churn_rate']:.1%}. Brier, log loss and ECE apply to probabilities only."
        )
        return "\n".join([header, rule, *body]) + note

    # -- plots -------------------------------------------------------------------------

    def figures(self) -> dict[str, Figure]:
        """The plots by file stem (``calibration``, ``gains``, ``roc``, ``feature_importance``)."""
        figs = {
            "calibration": self._plot_calibration(),
            "gains": self._plot_gains(),
            "roc": self._plot_roc(),
        }
        if self.feature_importance is not None and len(self.feature_importance):
            figs["feature_importance"] = self._plot_importance()
        if self.quality is not None:
            figs.update(quality_figures(self.quality))
        return figs

    def save_plots(self, directory: str | Path) -> list[Path]:
        """Write every plot as PNG into ``directory`` (created if needed)."""
        return save_figures(self.figures(), directory)

    def _plot_calibration(self) -> Figure:
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
        for name in self.probabilities:
            cal = calibration_table(self.y_true, self.scores[name])
            ece = self.table.loc[name, "ece"]
            ax.plot(
                cal["predicted"],
                cal["observed"],
                marker="o",
                label=f"{_LABELS[name]} (ECE {ece:.3f})",
            )
        ax.set(
            xlabel="predicted churn probability (decile mean)",
            ylabel="observed churn rate",
            title="Calibration",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="upper left", fontsize=8)
        return fig

    def _plot_gains(self) -> Figure:
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
        for name, score in self.scores.items():
            g = gains_curve(self.y_true, score)
            ax.plot(g["share_contacted"], g["share_captured"], label=_LABELS[name])
        ax.axvline(0.1, color="grey", linewidth=0.5)
        ax.set(
            xlabel="share of customers contacted (highest scores first)",
            ylabel="share of churners captured",
            title="Gains chart",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="lower right", fontsize=8)
        return fig

    def _plot_roc(self) -> Figure:
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        for name, score in self.scores.items():
            fpr, tpr, _ = roc_curve(self.y_true, score)
            auc = self.table.loc[name, "roc_auc"]
            ax.plot(fpr, tpr, label=f"{_LABELS[name]} (AUC {auc:.3f})")
        ax.set(
            xlabel="false positive rate",
            ylabel="true positive rate",
            title="ROC",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="lower right", fontsize=8)
        return fig

    def _plot_importance(self) -> Figure:
        assert self.feature_importance is not None
        top = self.feature_importance.head(20)[::-1]
        fig, ax = new_figure(height=max(3.0, 0.28 * len(top) + 1.0))
        total = float(self.feature_importance.sum()) or 1.0
        ax.barh(top.index, top.to_numpy() / total)
        ax.set(xlabel="share of total gain", title="Feature importance (LightGBM gain)")
        return fig


def _key(name: str, metric: str) -> str:
    return f"churn_{metric}" if name == "churn" else f"baseline_{name}_{metric}"


def evaluate_churn(
    y_true: np.ndarray | pd.Series,
    churn_probability: np.ndarray | pd.Series,
    inputs: pd.DataFrame,
    model: ChurnModel | None = None,
    naive_proba: np.ndarray | None = None,
    title: str = "evaluation",
) -> ChurnReport:
    """Evaluate churn probabilities and the baselines on the same rows.

    Parameters
    ----------
    y_true
        Observed churn (1) or purchase in the window (0), one per row of ``inputs``.
    churn_probability
        The model's calibrated probabilities for the same rows.
    inputs
        The model inputs of those rows (:func:`churnml.models.inputs.model_inputs`);
        the baselines are read from its ``recency_days``, ``p_no_purchase``,
        ``expected_purchases`` and ``p_alive`` columns (missing columns are skipped).
    model
        The fitted :class:`~churnml.models.churn.ChurnModel`, for the feature
        importance plot (optional).
    naive_proba
        Probabilities of the naive LightGBM baseline on the same rows (optional).
    title
        What the rows are, for the prediction-quality report (e.g. "backtest at ...").

    Returns
    -------
    ChurnReport
    """
    y = np.asarray(y_true, dtype=float)
    proba = np.asarray(churn_probability, dtype=float)
    if not (len(y) == len(proba) == len(inputs)):
        raise ValueError(
            f"lengths differ: y {len(y)}, probabilities {len(proba)}, inputs {len(inputs)}"
        )
    if len(np.unique(y)) < 2:
        raise ValueError("evaluation rows need both churners and non-churners")
    scores: dict[str, np.ndarray] = {"churn": proba}
    probabilities = ["churn"]
    for name, (_, _, is_probability) in BASELINES.items():
        score = _baseline_score(inputs, name)
        if score is not None:
            scores[name] = score
            if is_probability:
                probabilities.append(name)
    if naive_proba is not None:
        scores["naive_lightgbm"] = np.asarray(naive_proba, dtype=float)
        probabilities.append("naive_lightgbm")
    rows = {name: score_metrics(y, s, name in probabilities) for name, s in scores.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(_METRIC_NAMES)]
    metrics: dict[str, float] = {"n_rows": float(len(y)), "churn_rate": float(y.mean())}
    for name, values in rows.items():
        metrics.update({_key(name, m): v for m, v in values.items() if np.isfinite(v)})
    baseline_aucs = [rows[n]["roc_auc"] for n in rows if n != "churn"]
    if baseline_aucs:
        metrics["best_baseline_roc_auc"] = max(baseline_aucs)
        metrics["churn_roc_auc_gain"] = rows["churn"]["roc_auc"] - max(baseline_aucs)
    quality = prediction_quality(y, proba, title)
    metrics.update(quality.metrics())
    return ChurnReport(
        metrics=metrics,
        table=table,
        y_true=y,
        scores=scores,
        probabilities=tuple(probabilities),
        feature_importance=model.feature_importance() if model is not None else None,
        quality=quality,
    )
