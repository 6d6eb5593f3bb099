"""Has a batch moved away from the training population? PSI decides, chi-square informs.

Every feature of the churn model and both scores (``churn_probability``, ``clv``)
are binned with the reference's edges (:class:`~churnml.monitoring.reference.Binned`)
and compared two ways:

- **PSI** (population stability index), ``sum((a - e) * ln(a / e))`` over the bins,
  with ``e`` the reference and ``a`` the batch proportions, each floored at
  ``PSI_FLOOR`` so that an empty bin costs a large but finite amount. PSI measures
  *how much* the distribution moved and does not grow with the sample size, so the
  verdict uses it: ``< psi_warn`` ok, ``< psi_alert`` warn, else alert. The usual
  0.1 / 0.25 rule of thumb needs bins with a few percent of the rows each, which
  decile edges give.
- **Chi-square test of homogeneity** on the 2 x bins table of counts (reference,
  batch), bins empty in both dropped, no continuity correction. It is reported
  beside PSI (statistic and p-value) but decides nothing: with hundreds of thousands
  of customers any trivial shift is "significant". It is chosen over a two-sample KS
  test because the reference keeps only binned counts (a KS test against a sample
  regenerated from the bins would invent positions inside each bin and ties), most
  features are counts with large point masses (KS assumes continuous
  distributions), and the missing-value bin has no place on a KS axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from churnml.config import MonitorConfig
from churnml.monitoring.reference import Binned, ReferenceStats

#: Smallest proportion PSI works with (an empty bin counts as this share).
PSI_FLOOR = 1e-4

OK, WARN, ALERT = "ok", "warn", "alert"

#: Columns of :attr:`DriftReport.table` (one row per feature and score).
DRIFT_COLUMNS: tuple[str, ...] = (
    "column",
    "kind",
    "psi",
    "chi2",
    "chi2_p_value",
    "reference_missing_share",
    "batch_missing_share",
    "status",
)


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Population stability index of proportions ``actual`` against ``expected``.

    Both are per-bin shares (each summing to 1); shares below ``floor`` are raised to
    it, so a bin that is empty on one side adds ``(a - e) * ln(a / e)`` with the floor
    in place of zero instead of infinity.
    """
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def chi_square(reference: tuple[int, ...], batch: tuple[int, ...]) -> tuple[float, float]:
    """Chi-square statistic and p-value of "both counts come from one distribution".

    Bins empty on both sides are dropped; with fewer than two bins left, or an empty
    side, there is nothing to test: ``(0.0, 1.0)``.
    """
    table = np.array([reference, batch], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def status_of(value: float, config: MonitorConfig) -> str:
    """``ok``, ``warn`` or ``alert`` for a PSI ``value`` under ``config``'s thresholds."""
    if value >= config.psi_alert:
        return ALERT
    if value >= config.psi_warn:
        return WARN
    return OK


def compare_column(reference: Binned, values: np.ndarray) -> dict[str, float]:
    """PSI, chi-square and missing shares of ``values`` against one reference distribution."""
    counts = reference.count(values)
    batch = Binned(edges=reference.edges, counts=counts)
    stat, p_value = chi_square(reference.counts, counts)
    return {
        "psi": psi(reference.proportions, batch.proportions),
        "chi2": stat,
        "chi2_p_value": p_value,
        "reference_missing_share": float(reference.proportions[-1]) if reference.rows else 0.0,
        "batch_missing_share": float(batch.proportions[-1]) if batch.rows else 0.0,
    }


@dataclass(frozen=True)
class DriftReport:
    """One row per feature and score (``DRIFT_COLUMNS``), largest PSI first."""

    table: pd.DataFrame
    rows: int
    reference_rows: int

    @property
    def moved(self) -> list[str]:
        """Columns at ``alert``, largest PSI first."""
        return self.table.loc[self.table["status"] == ALERT, "column"].tolist()

    @property
    def warned(self) -> list[str]:
        """Columns at ``warn``, largest PSI first."""
        return self.table.loc[self.table["status"] == WARN, "column"].tolist()

    def psi_of(self, column: str) -> float:
        return float(self.table.set_index("column").loc[column, "psi"])


def drift_report(
    reference: ReferenceStats, observed: pd.DataFrame, config: MonitorConfig
) -> DriftReport:
    """Compare the columns of ``observed`` (:func:`~churnml.monitoring.batch.observe`) with ``reference``.

    Every feature and score of the reference is compared; one missing from
    ``observed`` (a model trained with features this code no longer computes) is a
    ``ValueError``, since silently skipping it would hide the largest drift of all.
    """
    parts = [("feature", reference.features), ("score", reference.scores)]
    missing = [c for _, group in parts for c in group if c not in observed.columns]
    if missing:
        raise ValueError(f"the batch lacks reference columns: {', '.join(missing)}")
    rows = []
    for kind, group in parts:
        for column, binned in group.items():
            figures = compare_column(binned, observed[column].to_numpy(dtype=float))
            rows.append(
                {
                    "column": column,
                    "kind": kind,
                    **figures,
                    "status": status_of(figures["psi"], config),
                }
            )
    table = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    table = table.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)
    return DriftReport(table=table, rows=len(observed), reference_rows=reference.rows)
