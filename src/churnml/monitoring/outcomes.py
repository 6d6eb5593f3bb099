"""Published scores against what happened, once the churn window has passed.

A scores file (the output of ``churnml score``) says, as of its ``as_of``, how likely
each customer was to churn and what they were worth. Once the transactions reach
``as_of + churn_window_days`` the label is known: *churned* = no purchase in
``[as_of, as_of + window)``, computed by :func:`churnml.features.churn_labels`, the
same definition the model was trained on. Before that the check is skipped with the
date it matures on: an immature label would count every customer who has not bought
*yet* as a churner.

Figures: the AUC of ``churn_probability`` (the model's ranking, comparable with the
training backtest AUC), actual vs mean predicted churn per score decile (calibration:
a model can rank well and still be off in level), and the Spearman rank correlation
of ``clv`` with the customer's realised spend since ``as_of`` (purchases only, i.e.
non-negative amounts, as Gamma-Gamma counts spend; up to the monitor's cut-off).
Rank correlation because CLV is a forecast over a longer horizon than has passed:
its level cannot be checked yet, its ordering can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from churnml.errors import DataValidationError, Problem
from churnml.evaluation.quality import decile_table
from churnml.features import churn_labels
from churnml.features.grouping import cutoff_day, day_numbers

#: Columns of a scores file that the check reads.
SCORE_FILE_COLUMNS: tuple[str, ...] = ("customer_id", "as_of", "churn_probability", "clv")


@dataclass(frozen=True)
class Outcomes:
    """The matured-label check of one scores file (``matured`` False: nothing measured)."""

    scores_as_of: pd.Timestamp
    matures_on: pd.Timestamp
    matured: bool
    customers: int = 0
    unmatched: int = 0
    churn_rate: float = float("nan")
    auc: float = float("nan")
    clv_spearman: float = float("nan")
    deciles: pd.DataFrame | None = None

    @property
    def message(self) -> str:
        if not self.matured:
            return (
                f"labels of the scores as of {self.scores_as_of.date()} not matured until "
                f"{self.matures_on.date()}: outcome check skipped"
            )
        return (
            f"{self.customers:,} customers scored as of {self.scores_as_of.date()}: "
            f"AUC {self.auc:.4f}, churn rate {self.churn_rate:.3f}, "
            f"CLV rank correlation {self.clv_spearman:.3f}"
        )

    def metrics(self) -> dict[str, float]:
        """The figures as ``outcome_*`` numbers (empty when not matured)."""
        if not self.matured:
            return {}
        return {
            "outcome_customers": float(self.customers),
            "outcome_churn_rate": self.churn_rate,
            "outcome_auc": self.auc,
            "outcome_clv_spearman": self.clv_spearman,
        }


def scores_as_of(scores: pd.DataFrame) -> pd.Timestamp:
    """The one ``as_of`` of a scores file; a file without the columns or with several is bad input."""
    missing = [c for c in SCORE_FILE_COLUMNS if c not in scores.columns]
    if missing:
        raise DataValidationError(
            [
                Problem("scores", c, "missing column (expected the output of churnml score)")
                for c in missing
            ]
        )
    dates = pd.to_datetime(scores["as_of"].dropna().unique(), errors="coerce")
    if len(dates) != 1 or pd.isna(dates[0]):
        shown = ", ".join(map(str, scores["as_of"].dropna().unique()[:5]))
        raise DataValidationError(
            [Problem("scores", "as_of", f"expected one scoring date, found: {shown or 'none'}")]
        )
    return pd.Timestamp(dates[0]).normalize()


def check_outcomes(
    scores: pd.DataFrame,
    transactions: pd.DataFrame,
    observed_until: pd.Timestamp | str,
    window_days: int,
) -> Outcomes:
    """Measure ``scores`` against the purchases of ``transactions`` before ``observed_until``.

    Parameters
    ----------
    scores
        A scores file's rows (``SCORE_FILE_COLUMNS`` at least, one ``as_of``).
    transactions
        Validated transactions; rows on or after ``observed_until`` are ignored.
    observed_until
        Exclusive end of what is known (the monitor's cut-off). The labels have
        matured when ``as_of + window_days <= observed_until``.
    window_days
        The churn window of the model that made the scores.
    """
    start = scores_as_of(scores)
    matures_on = start + pd.Timedelta(days=window_days)
    end = pd.Timestamp(observed_until).normalize()
    if matures_on > end:
        return Outcomes(scores_as_of=start, matures_on=matures_on, matured=False)

    known = transactions.loc[transactions["order_date"] < end]
    labels = churn_labels(known, start, window_days)
    frame = scores.assign(customer_id=scores["customer_id"].astype(str)).set_index("customer_id")
    labels.index = labels.index.astype(str)
    matched = frame.index.isin(labels.index)
    frame = frame.loc[matched]
    y = labels.reindex(frame.index).to_numpy(dtype=float)
    proba = frame["churn_probability"].to_numpy(dtype=float)
    clv = frame["clv"].to_numpy(dtype=float)
    spend = _purchases_since(known, start).reindex(frame.index, fill_value=0.0).to_numpy()

    both_classes = len(np.unique(y)) == 2
    return Outcomes(
        scores_as_of=start,
        matures_on=matures_on,
        matured=True,
        customers=len(frame),
        unmatched=int((~matched).sum()),
        churn_rate=float(y.mean()) if len(y) else float("nan"),
        auc=float(roc_auc_score(y, proba)) if both_classes else float("nan"),
        clv_spearman=_spearman(clv, spend),
        deciles=decile_table(y, proba) if len(y) else None,
    )


def _purchases_since(transactions: pd.DataFrame, start: pd.Timestamp) -> pd.Series:
    """Sum of non-negative amounts per customer on or after ``start`` (index as str)."""
    day = day_numbers(transactions["order_date"])
    amount = transactions["amount"].to_numpy(dtype=float)
    keep = (day >= cutoff_day(start)) & (amount >= 0)
    ids = transactions["customer_id"].to_numpy()[keep].astype(str)
    return pd.Series(amount[keep]).groupby(ids).sum()


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)
