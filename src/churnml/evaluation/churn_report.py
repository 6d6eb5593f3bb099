"""Churn evaluation: the model and its baselines on the same rows, as numbers and pictures.

Baselines (computed from the same model inputs, so they are judged on exactly
the rows the model is):

- ``recency``: days since the last purchase (the heuristic every CRM starts with);
- ``bgnbd_p_no_purchase``: BG/NBD probability of no purchase in the churn window;
- ``bgnbd_expected_purchases``: BG/NBD expected purchases over the horizon (negated);
- ``bgnbd_not_alive``: 1 − P(alive), shown because people try it; it is not a
  churn score (BG/NBD sets P(alive) = 1 for everyone without a repeat purchase).

Metrics: ROC-AUC, PR-AUC, top-decile lift and capture rate for every score;
Brier, log loss and expected calibration error (ECE) for scores that are
probabilities. Flat keys (``churn_roc_auc``, ``baseline_recency_roc_auc``, ...)
go straight to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)

#: Baseline name -> (input column, sign so that higher = more likely to churn, is a probability).
BASELINES: dict[str, tuple[str, float, bool]] = {
    "recency": ("recency_days", 1.0, False),
    "bgnbd_p_no_purchase": ("p_no_purchase", 1.0, True),
    "bgnbd_expected_purchases": ("expected_purchases", -1.0, False),
    "bgnbd_not_alive": ("p_alive", -1.0, False),
}


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between predicted and observed churn rate over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(proba[mask].mean() - y[mask].mean())
    return float(total / len(y))


def top_decile(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(lift, capture rate) of the 10% highest scores."""
    k = max(int(np.ceil(0.1 * len(y))), 1)
    top = np.argsort(-score, kind="stable")[:k]
    rate = y[top].mean()
    base = y.mean()
    lift = float(rate / base) if base > 0 else float("nan")
    capture = float(y[top].sum() / y.sum()) if y.sum() > 0 else float("nan")
    return lift, capture


def score_metrics(y: np.ndarray, score: np.ndarray, is_probability: bool) -> dict[str, float]:
    """Ranking metrics for any score; calibration metrics only for probabilities."""
    out = {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
    }
    out["top_decile_lift"], out["top_decile_capture"] = top_decile(y, score)
    if is_probability:
        p = np.clip(score, 1e-6, 1 - 1e-6)
        out["brier"] = float(brier_score_loss(y, p))
        out["log_loss"] = float(log_loss(y, p, labels=[0, 1]))
        out["ece"] = expected_calibration_error(y, p)
    return out


@dataclass
class ChurnReport:
    """Metrics of the model and the baselines on one set of rows, with their plots."""

    y: np.ndarray
    scores: dict[str, np.ndarray]
    table: pd.DataFrame
    importance: pd.Series | None = None
    probabilities: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> dict[str, float]:
        """Flat MLflow-ready metrics: ``churn_<m>`` and ``baseline_<name>_<m>``."""
        flat: dict[str, float] = {}
        for name, row in self.table.iterrows():
            prefix = "churn_" if name == "model" else f"baseline_{name}_"
            flat.update({prefix + str(k): float(v) for k, v in row.items() if pd.notna(v)})
        return flat

    def to_markdown(self) -> str:
        return self.table.to_markdown(floatfmt=".4f")

    def save_plots(self, directory: str | Path) -> list[Path]:
        """Calibration curve, gains chart, ROC curves and feature importance as PNG."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = [
            self._calibration(d / "calibration.png"),
            self._gains(d / "gains.png"),
            self._roc(d / "roc.png"),
        ]
        if self.importance is not None:
            paths.append(self._importance(d / "feature_importance.png"))
        return paths

    def _calibration(self, path: Path) -> Path:
        fig = Figure(figsize=(5.5, 5))
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
        for name in sorted(self.probabilities):
            p = self.scores[name]
            edges = np.quantile(p, np.linspace(0, 1, 11))
            idx = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, 9)
            frame = pd.DataFrame({"p": p, "y": self.y, "bin": idx}).groupby("bin").mean()
            ax.plot(frame["p"], frame["y"], marker="o", label=name)
        ax.set_xlabel("predicted churn probability")
        ax.set_ylabel("observed churn rate")
        ax.set_title("Calibration (deciles of prediction)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return path

    def _gains(self, path: Path) -> Path:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        share = np.arange(1, len(self.y) + 1) / len(self.y)
        for name, score in self.scores.items():
            order = np.argsort(-score, kind="stable")
            ax.plot(share, np.cumsum(self.y[order]) / self.y.sum(), label=name)
        ax.plot([0, 1], [0, 1], ls="--", color="grey", label="random")
        ax.set_xlabel("share of customers contacted (highest score first)")
        ax.set_ylabel("share of churners captured")
        ax.set_title("Cumulative gains")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return path

    def _roc(self, path: Path) -> Path:
        fig = Figure(figsize=(5.5, 5))
        ax = fig.subplots()
        for name, score in self.scores.items():
            fpr, tpr, _ = roc_curve(self.y, score)
            ax.plot(fpr, tpr, label=f"{name} (AUC {self.table.loc[name, 'roc_auc']:.3f})")
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return path

    def _importance(self, path: Path) -> Path:
        assert self.importance is not None
        top = self.importance.sort_values().tail(20)
        fig = Figure(figsize=(6, 6))
        ax = fig.subplots()
        ax.barh(top.index.astype(str), top.to_numpy())
        ax.set_title("Feature importance (gain)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return path


def evaluate_churn(
    y_true: np.ndarray | pd.Series,
    proba: np.ndarray,
    inputs: pd.DataFrame,
    model: Any | None = None,
) -> ChurnReport:
    """Evaluate calibrated churn probabilities against the baselines on the same rows.

    Parameters
    ----------
    y_true
        1 = churned (no purchase in the window), 0 = bought.
    proba
        The model's calibrated churn probability per row of ``inputs``.
    inputs
        Model inputs of the same rows (behavioural features and LTV outputs).
    model
        Optional fitted :class:`~churnml.models.churn.ChurnModel`, for feature importance.
    """
    y = np.asarray(y_true, dtype=float)
    if len(y) != len(proba) or len(y) != len(inputs):
        raise ValueError("y_true, proba and inputs must have the same rows")
    if y.min() == y.max():
        raise ValueError("evaluation rows need both churners and non-churners")
    scores: dict[str, np.ndarray] = {"model": np.asarray(proba, dtype=float)}
    probabilities = {"model"}
    for name, (column, sign, is_probability) in BASELINES.items():
        if column in inputs.columns:
            scores[name] = sign * inputs[column].to_numpy(dtype=float)
            if is_probability:
                probabilities.add(name)
    rows = {name: score_metrics(y, s, name in probabilities) for name, s in scores.items()}
    table = pd.DataFrame(rows).T
    table.index.name = "score"
    importance = (
        model.feature_importance()
        if model is not None and hasattr(model, "feature_importance")
        else None
    )
    return ChurnReport(
        y=y, scores=scores, table=table, importance=importance, probabilities=probabilities
    )
