"""How well an uplift model ranks customers: Qini curve, Qini coefficient, uplift at k.

Individual uplift is never observed (a customer is either contacted or not),
so a model is judged on a randomised held-out set by how many *incremental*
responders it finds when customers are contacted in the order of its scores
(Radcliffe, 2007). With ``n_t(k), n_c(k)`` treated and control customers and
``y_t(k), y_c(k)`` responders among the top-``k`` scored, the Qini curve is

    Q(k) = y_t(k) - y_c(k) * n_t(k) / n_c(k),

expressed here per customer of the whole population (divided by ``n``) against
the share ``k / n`` targeted. A random ranking gives, in expectation, the
straight line from the origin to the curve's end point; the **Qini
coefficient** is the area between the curve and that line (0 = no better than
random, positive = the model finds responders early). Customers with equal
scores are taken as one block, so a constant score (a prior) scores exactly 0.

References
----------
Radcliffe (2007), "Using control groups to target on predicted lift", Direct
Marketing Analytics Journal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from churnml.actions.catalogue import CONTROL


def _arrays(y: ArrayLike, treated: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, ...]:
    yy = np.asarray(y, dtype=float)
    tt = np.asarray(treated, dtype=bool)
    ss = np.asarray(score, dtype=float)
    if not (yy.shape == tt.shape == ss.shape) or yy.ndim != 1:
        raise ValueError("y, treated and score must be 1-d arrays of the same length")
    if not np.isfinite(ss).all():
        raise ValueError("uplift scores must be finite")
    return yy, tt, ss


def qini_curve(y: ArrayLike, treated: ArrayLike, score: ArrayLike) -> pd.DataFrame:
    """Qini curve at every distinct score, highest scores first.

    Returns
    -------
    pandas.DataFrame
        ``fraction`` (share of customers targeted, from 0 to 1), ``qini``
        (incremental responders per customer of the population) and ``random``
        (the expected curve of a random ranking).
    """
    yy, tt, ss = _arrays(y, treated, score)
    n = yy.size
    order = np.argsort(-ss, kind="stable")
    ys, ts, ss_sorted = yy[order], tt[order], ss[order]
    n_t = np.cumsum(ts)
    n_c = np.cumsum(~ts)
    y_t = np.cumsum(ys * ts)
    y_c = np.cumsum(ys * ~ts)
    # Evaluate only at the last row of each block of tied scores.
    last = np.r_[ss_sorted[1:] != ss_sorted[:-1], True]
    n_t, n_c, y_t, y_c = n_t[last], n_c[last], y_t[last], y_c[last]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_c > 0, y_t - y_c * n_t / n_c, y_t)
    fraction = np.r_[0.0, (np.flatnonzero(last) + 1) / n]
    qini = np.r_[0.0, q / n]
    return pd.DataFrame({"fraction": fraction, "qini": qini, "random": fraction * qini[-1]})


def qini_coefficient(y: ArrayLike, treated: ArrayLike, score: ArrayLike) -> float:
    """Area between the Qini curve and the random line (0 = random ranking)."""
    curve = qini_curve(y, treated, score)
    gain = (curve["qini"] - curve["random"]).to_numpy()
    x = curve["fraction"].to_numpy()
    return float(np.sum((gain[1:] + gain[:-1]) * np.diff(x)) / 2.0)


def uplift_at_k(y: ArrayLike, treated: ArrayLike, score: ArrayLike, k: float = 0.3) -> float:
    """Observed uplift (treated minus control response rate) among the top ``k`` share by score.

    NaN when the top share holds no treated or no control customer.
    """
    if not 0 < k <= 1:
        raise ValueError(f"k must lie in (0, 1], got {k}")
    yy, tt, ss = _arrays(y, treated, score)
    top = np.argsort(-ss, kind="stable")[: max(1, math.ceil(k * yy.size))]
    yt, tt_top = yy[top], tt[top]
    if tt_top.all() or not tt_top.any():
        return float("nan")
    return float(yt[tt_top].mean() - yt[~tt_top].mean())


def uplift_at_k_interval(
    y: ArrayLike, treated: ArrayLike, score: ArrayLike, k: float = 0.3, confidence: float = 0.95
) -> tuple[float, float, float]:
    """:func:`uplift_at_k` with its confidence interval: ``(estimate, low, high)``.

    Among the top ``k`` share by score, treated and control customers are still a
    randomised comparison (the score is a function of pre-campaign features only),
    so the difference in means and its Welch interval (:func:`average_effect`) apply.
    """
    if not 0 < k <= 1:
        raise ValueError(f"k must lie in (0, 1], got {k}")
    yy, tt, ss = _arrays(y, treated, score)
    top = np.argsort(-ss, kind="stable")[: max(1, math.ceil(k * yy.size))]
    return average_effect(yy[top], tt[top], confidence)


def average_effect(
    y: ArrayLike, treated: ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference in mean outcome, treated minus control, with a normal-approximation CI.

    Returns ``(estimate, low, high)``; the standard error is the unpooled
    (Welch) one, right for randomised arms of any size above a few dozen.
    """
    yy = np.asarray(y, dtype=float)
    tt = np.asarray(treated, dtype=bool)
    a, b = yy[tt], yy[~tt]
    if a.size < 2 or b.size < 2:
        return float("nan"), float("nan"), float("nan")
    est = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return float(est), float(est - z * se), float(est + z * se)


def uplift_report(
    uplift: pd.DataFrame,
    action: pd.Series,
    y: pd.Series,
    control_label: str = CONTROL,
    k: float = 0.3,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per action on a held-out randomised set: observed and predicted effect, Qini, uplift at k.

    Parameters
    ----------
    uplift
        Output of :meth:`UpliftModel.predict` on the held-out rows.
    action, y
        Arm labels (``control_label`` for control) and outcomes, aligned with ``uplift``.

    Returns
    -------
    pandas.DataFrame
        One row per action: ``n_treated, n_control, observed_effect, effect_low,
        effect_high`` (difference in means with CI), ``predicted_effect`` (mean
        predicted uplift over the treated and control rows of that comparison),
        ``qini_coefficient`` and ``uplift_at_k``.
    """
    arm = np.asarray(action, dtype=object)
    yy = np.asarray(y, dtype=float)
    rows = []
    actions = [c for c in uplift.columns if c != "uplift_source"]  # SOURCE_COLUMN
    for a in actions:
        mask = (arm == a) | (arm == control_label)
        t = arm[mask] == a
        score = uplift[a].to_numpy(dtype=float)[mask]
        est, lo, hi = average_effect(yy[mask], t, confidence)
        rows.append(
            {
                "action": a,
                "n_treated": int(t.sum()),
                "n_control": int((~t).sum()),
                "observed_effect": est,
                "effect_low": lo,
                "effect_high": hi,
                "predicted_effect": float(score.mean()) if score.size else float("nan"),
                "qini_coefficient": qini_coefficient(yy[mask], t, score)
                if t.any()
                else float("nan"),
                "uplift_at_k": uplift_at_k(yy[mask], t, score, k) if t.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def plot_qini(
    curves: Mapping[str, pd.DataFrame], path: str | Path, title: str = "Qini curves"
) -> Path:
    """Draw Qini curves (from :func:`qini_curve`) with their random lines to a PNG file.

    Uses matplotlib's Agg canvas directly, so no GUI backend or pyplot global
    state is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, curve) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(curve["fraction"], curve["qini"], color=color, label=name)
        ax.plot(curve["fraction"], curve["random"], color=color, linestyle="--", linewidth=0.8)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel("share of customers targeted (highest predicted uplift first)")
    ax.set_ylabel("incremental responders per customer")
    ax.set_title(title)
    ax.legend(title="dashed: random ranking", fontsize="small")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
