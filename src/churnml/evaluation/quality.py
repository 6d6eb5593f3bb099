"""Prediction-quality report of a churn score, in the terms marketers use (no plotting here).

Three views of one score on labelled rows, the kind commercial marketing tools show:

deciles
    customers ranked by score and cut into ten equal groups (decile 1 = highest risk):
    predicted and actual churn rate of each, its lift (actual rate over the overall
    rate) and the share of all churners captured down to it. A calibrated model's
    predicted and actual rates agree decile by decile.
lift over random, averaged over audience sizes
    contacting the top 5 %, 10 %, ..., 50 % of customers by score: how many times more
    churners than a random audience of the same size. The mean of those lifts is the
    headline figure. Its *grade* is judged on the share of the best achievable lift
    reached (``(lift - 1) / (perfect lift - 1)``, averaged over the same sizes),
    because the raw lift is capped by the base rate: with 70 % churners no audience can
    beat a lift of 1.43, with 10 % a perfect model reaches 10.
score histogram
    how the scores of churners and of non-churners are spread (twenty equal-width bins
    of the churn probability).

Plots of these tables live in :mod:`churnml.evaluation.plots`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.evaluation.metrics import top_fraction_capture

__all__ = [
    "AUDIENCE_SIZES",
    "GRADES",
    "QualityReport",
    "decile_table",
    "lift_grade",
    "lift_table",
    "prediction_quality",
    "score_histogram",
]

#: Audience sizes (share of customers contacted, highest scores first) the lift is averaged over.
AUDIENCE_SIZES: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 11))
#: Lowest share of the achievable lift for each grade, best first; below the last: "weak".
GRADES: tuple[tuple[float, str], ...] = ((0.7, "excellent"), (0.5, "good"), (0.3, "fair"))


def decile_table(y_true: np.ndarray, score: np.ndarray, n_groups: int = 10) -> pd.DataFrame:
    """Predicted and actual churn rate per score decile (1 = highest scores).

    Columns: ``customers``, ``predicted_churn_rate`` (mean score; meaningful for
    probabilities), ``actual_churn_rate``, ``lift`` (actual rate over the overall
    rate) and ``cumulative_capture`` (share of all churners in deciles 1..k).
    Ties are broken by row order, so the groups have equal sizes.
    """
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    group = np.empty(len(y), dtype=np.int64)
    group[order] = np.arange(len(y)) * n_groups // max(len(y), 1) + 1
    frame = pd.DataFrame({"decile": group, "score": s, "y": y})
    table = frame.groupby("decile").agg(
        customers=("y", "size"),
        predicted_churn_rate=("score", "mean"),
        actual_churn_rate=("y", "mean"),
    )
    base = y.mean() if len(y) else float("nan")
    table["lift"] = table["actual_churn_rate"] / base if base > 0 else np.nan
    churners = frame.groupby("decile")["y"].sum().cumsum()
    table["cumulative_capture"] = churners / y.sum() if y.sum() > 0 else np.nan
    return table


def lift_table(
    y_true: np.ndarray, score: np.ndarray, sizes: tuple[float, ...] = AUDIENCE_SIZES
) -> pd.DataFrame:
    """Lift over random for each audience size, beside the best achievable lift.

    Columns: ``audience`` (share contacted), ``capture``, ``lift``, ``perfect_lift``
    (a perfect ranking: ``min(1 / audience, 1 / base rate)``) and ``lift_share``
    (``(lift - 1) / (perfect_lift - 1)``: 0 for random, 1 for perfect).
    """
    y = np.asarray(y_true, dtype=float)
    base = float(y.mean())
    rows = []
    for size in sizes:
        capture = top_fraction_capture(y, score, size)
        lift = capture / size
        perfect = min(1.0 / size, 1.0 / base) if base > 0 else float("nan")
        share = (lift - 1.0) / (perfect - 1.0) if perfect > 1.0 else float("nan")
        rows.append(
            {
                "audience": size,
                "capture": capture,
                "lift": lift,
                "perfect_lift": perfect,
                "lift_share": share,
            }
        )
    return pd.DataFrame(rows).set_index("audience")


def lift_grade(lift_share: float) -> str:
    """Plain-words grade of the mean share of achievable lift (see :data:`GRADES`)."""
    if not np.isfinite(lift_share):
        return "not gradable"
    for floor, name in GRADES:
        if lift_share >= floor:
            return name
    return "weak"


def score_histogram(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 20) -> pd.DataFrame:
    """Counts of churners and non-churners per equal-width bin of the probability in [0, 1]."""
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    churners, _ = np.histogram(p[y == 1], bins=edges)
    stayers, _ = np.histogram(p[y == 0], bins=edges)
    return pd.DataFrame(
        {
            "bin_start": edges[:-1],
            "bin_end": edges[1:],
            "churners": churners,
            "non_churners": stayers,
        }
    )


@dataclass
class QualityReport:
    """Deciles, lift by audience size with its grade, and the score histogram of one score.

    Attributes
    ----------
    title
        What was scored (e.g. "backtest at 2025-07-04").
    deciles, lift, histogram
        The tables of :func:`decile_table`, :func:`lift_table` and :func:`score_histogram`.
    average_lift
        Mean lift over :data:`AUDIENCE_SIZES`.
    lift_share
        Mean share of the achievable lift over the same sizes; decides ``grade``.
    grade
        "excellent", "good", "fair" or "weak".
    """

    title: str
    deciles: pd.DataFrame
    lift: pd.DataFrame
    histogram: pd.DataFrame
    average_lift: float
    lift_share: float
    grade: str

    def metrics(self, prefix: str = "quality_") -> dict[str, float]:
        """Flat, MLflow-ready figures: average lift, lift share, top and bottom decile rates."""
        d = self.deciles
        return {
            f"{prefix}average_lift": self.average_lift,
            f"{prefix}lift_share": self.lift_share,
            f"{prefix}top_decile_actual_churn_rate": float(d["actual_churn_rate"].iloc[0]),
            f"{prefix}bottom_decile_actual_churn_rate": float(d["actual_churn_rate"].iloc[-1]),
        }

    def summary(self) -> str:
        """One sentence: the grade, the average lift and what it means."""
        return (
            f"Prediction quality: **{self.grade}**. Contacting the highest-risk 5-50 % of "
            f"customers reaches on average {self.average_lift:.2f}x the churners of a random "
            f"audience of the same size ({self.lift_share:.0%} of the best achievable lift)."
        )

    def to_markdown(self) -> str:
        """The summary, the decile table and the lift table as Markdown."""
        deciles = self.deciles.rename(
            columns={
                "customers": "customers",
                "predicted_churn_rate": "predicted churn rate",
                "actual_churn_rate": "actual churn rate",
                "lift": "lift",
                "cumulative_capture": "churners captured (cumulative)",
            }
        )
        lift = self.lift.rename(
            columns={"perfect_lift": "best possible lift", "lift_share": "share of best"}
        )
        return "\n\n".join(
            [
                f"### Prediction quality — {self.title}",
                self.summary(),
                "Actual vs predicted churn rate per score decile (1 = highest risk):\n\n"
                + deciles.to_markdown(floatfmt=".3f"),
                "Lift over random by audience size:\n\n" + lift.to_markdown(floatfmt=".3f"),
            ]
        )


def prediction_quality(y_true: np.ndarray, proba: np.ndarray, title: str) -> QualityReport:
    """The :class:`QualityReport` of churn probabilities ``proba`` on labels ``y_true``."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    if len(y) != len(p):
        raise ValueError(f"lengths differ: y {len(y)}, probabilities {len(p)}")
    lift = lift_table(y, p)
    share = float(lift["lift_share"].mean())
    return QualityReport(
        title=title,
        deciles=decile_table(y, p),
        lift=lift,
        histogram=score_histogram(y, p),
        average_lift=float(lift["lift"].mean()),
        lift_share=share,
        grade=lift_grade(share),
    )
