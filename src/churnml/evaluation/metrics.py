"""Churn score metrics, free of plotting: the model and the reports both import them.

Kept apart from :mod:`churnml.evaluation.churn_report` (which draws figures) so that
importing a model never imports matplotlib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "calibration_table",
    "expected_calibration_error",
    "gains_curve",
    "score_metrics",
    "top_fraction_capture",
]

_EPS = 1e-6


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by bin size."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    if len(y) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    gap = np.abs(np.bincount(bins, weights=p - y, minlength=n_bins))
    return float(gap.sum() / len(y))


def top_fraction_capture(y_true: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Share of all positives among the ``fraction`` highest scores (ties shared in proportion)."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    total = y.sum()
    if total == 0 or len(y) == 0:
        return float("nan")
    k = fraction * len(y)
    order = np.argsort(-s, kind="stable")
    threshold = s[order[min(int(np.ceil(k)) - 1, len(y) - 1)]]
    above = s > threshold
    tied = s == threshold
    take = (k - above.sum()) / max(tied.sum(), 1)
    return float((y[above].sum() + take * y[tied].sum()) / total)


def score_metrics(y_true: np.ndarray, score: np.ndarray, is_probability: bool) -> dict[str, float]:
    """All metrics of one score (Brier, log loss and ECE only for probabilities)."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    capture = top_fraction_capture(y, s, 0.1)
    out = {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "brier": float("nan"),
        "log_loss": float("nan"),
        "ece": float("nan"),
        "top_decile_lift": capture / 0.1 if np.isfinite(capture) else float("nan"),
        "top_decile_capture": capture,
    }
    if is_probability:
        p = np.clip(s, _EPS, 1 - _EPS)
        out["brier"] = float(np.mean((s - y) ** 2))
        out["log_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        out["ece"] = expected_calibration_error(y, s)
    return out


def calibration_table(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted and observed churn per equal-frequency bin of ``proba``."""
    frame = pd.DataFrame(
        {"p": np.asarray(proba, dtype=float), "y": np.asarray(y_true, dtype=float)}
    )
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(n_bins, len(frame)), labels=False)
    return frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), rows=("y", "size")
    )


def gains_curve(y_true: np.ndarray, score: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Share of churners captured when contacting the top share of customers by score."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    share = np.linspace(0.0, 1.0, points)
    captured = [0.0] + [top_fraction_capture(y, s, f) for f in share[1:]]
    return pd.DataFrame({"share_contacted": share, "share_captured": captured})
