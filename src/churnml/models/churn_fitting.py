"""How a churn model is fitted: which rows it holds out, and its calibration map.

The held-out rows (the latest cut-offs, and with customer ids a hash-chosen share of
customers) serve early stopping and calibration; the calibration map is kept as plain
numbers (isotonic knots or a sigmoid's two coefficients) so the bundle stays text.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)

#: Probabilities are kept inside [eps, 1 - eps]: a calibrated 0 or 1 is never that sure.
PROBABILITY_EPS = 1e-3


def split_rows(
    target: np.ndarray,
    cutoff: pd.Series | np.ndarray | None,
    groups: pd.Series | np.ndarray | None,
    n_latest: int,
    share: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Boolean masks of the training and held-out rows, and a description of the split."""
    n = len(target)
    in_group: np.ndarray | None = None
    if groups is not None:
        ids = np.asarray(groups)
        if len(ids) != n:
            raise ValueError(f"groups has {len(ids)} values for {n} rows")
        hashed = pd.util.hash_array(ids.astype(str)) % np.uint64(1_000_000)
        in_group = hashed < np.uint64(round(share * 1_000_000))
    if cutoff is not None:
        cut = pd.to_datetime(pd.Series(np.asarray(cutoff))).to_numpy()
        if len(cut) != n:
            raise ValueError(f"cutoff has {len(cut)} values for {n} rows")
        unique = np.unique(cut)
        if len(unique) > n_latest:
            first_held = unique[-n_latest]
            late = np.asarray(cut >= first_held)
            info: dict[str, Any] = {
                "by": "time" if in_group is None else "time and customer",
                "held_out_cutoffs": [
                    str(pd.Timestamp(c).date()) for c in unique[unique >= first_held]
                ],
            }
            if in_group is None:
                return ~late, late, info
            info["customer_share"] = share
            return ~late & ~in_group, late & in_group, info
        # Expected with a short history (one labelled window); the split says so.
        logger.info(
            "only %d cut-off(s), %d to hold out: holding out customers instead",
            len(unique),
            n_latest,
        )
    if in_group is not None:
        return ~in_group, in_group, {"by": "customer", "customer_share": share}
    rng = np.random.default_rng(seed)
    held = rng.random(n) < share
    return ~held, held, {"by": "random rows", "share": share}


def fit_calibrator(method: str, score: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """Calibration map from raw score to churn probability, as plain numbers."""
    if method == "sigmoid":
        lr = LogisticRegression(C=1e10, max_iter=1000).fit(score.reshape(-1, 1), target)
        return {
            "method": "sigmoid",
            "coef": float(lr.coef_[0, 0]),
            "intercept": float(lr.intercept_[0]),
        }
    if method != "isotonic":
        raise ValueError(f"calibration must be 'isotonic' or 'sigmoid', got {method!r}")
    order = np.argsort(score, kind="stable")
    s = score[order]
    fitted = (
        IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        .fit(s, target[order])
        .predict(s)
    )
    # Centred isotonic regression: one knot per flat block, at the block's mean score.
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    counts = np.diff(np.r_[starts, len(s)])
    knot_x = np.add.reduceat(s, starts) / counts
    knot_y = fitted[starts]
    return {"method": "isotonic", "x": knot_x.tolist(), "y": knot_y.tolist()}


def apply_calibrator(calibrator: dict[str, Any], score: np.ndarray) -> np.ndarray:
    if calibrator["method"] == "sigmoid":
        z = calibrator["coef"] * score + calibrator["intercept"]
        proba = 1.0 / (1.0 + np.exp(-z))
    else:
        proba = np.interp(score, np.asarray(calibrator["x"]), np.asarray(calibrator["y"]))
    return np.clip(proba, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)
