"""The monitor's whole check: drift of a batch, decay on matured labels, one verdict.

:func:`run_monitor` is what ``churnml monitor`` calls; :class:`MonitorResult` holds
the figures, says which columns moved and whether the model decayed, and gives
the exit code a scheduler acts on: 0 fine, :data:`EXIT_ALERT` drift or decay beyond
the thresholds of :class:`~churnml.config.MonitorConfig`. Its files and MLflow run are
written by :mod:`churnml.monitoring.record`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnml.config import MonitorConfig
from churnml.data.contract import InputTables
from churnml.errors import ChurnmlError, DataValidationError, Problem
from churnml.monitoring.batch import observe
from churnml.monitoring.drift import DriftReport, drift_report
from churnml.monitoring.outcomes import Outcomes, check_outcomes
from churnml.monitoring.reference import Binned, ReferenceStats
from churnml.scoring.bundle import ModelBundle

#: Exit code of a check that found drift or decay beyond the thresholds.
EXIT_ALERT = 3


@dataclass(frozen=True)
class MonitorResult:
    """What one monitoring check found (see the module docstring)."""

    as_of: pd.Timestamp
    model_name: str
    model_version: str
    config: MonitorConfig
    reference: ReferenceStats
    drift: DriftReport
    batch_score: Binned
    outcomes: Outcomes | None = None

    @property
    def decayed(self) -> bool:
        """Matured AUC below the reference backtest AUC by more than ``max_auc_drop``."""
        o, ref = self.outcomes, self.reference.backtest_auc
        if o is None or not o.matured or ref is None or math.isnan(o.auc):
            return False
        return o.auc < ref - self.config.max_auc_drop

    @property
    def exit_code(self) -> int:
        return EXIT_ALERT if self.drift.moved or self.decayed else 0

    def messages(self) -> list[str]:
        """The verdict in sentences: what moved, what decayed, what was skipped."""
        d, cfg = self.drift, self.config
        lines = []
        if d.moved:
            lines.append(
                f"drift: {len(d.moved)} of {len(d.table)} columns moved "
                f"(PSI >= {cfg.psi_alert}): {', '.join(d.moved)}"
            )
        else:
            lines.append(f"no drift: every PSI below {cfg.psi_alert} ({len(d.table)} columns)")
        if d.warned:
            lines.append(f"watch (PSI >= {cfg.psi_warn}): {', '.join(d.warned)}")
        if self.outcomes is not None:
            lines.append(self.outcomes.message)
            ref = self.reference.backtest_auc
            if self.decayed:
                lines.append(
                    f"decay: AUC {self.outcomes.auc:.4f} is below the training backtest AUC "
                    f"{ref:.4f} - {cfg.max_auc_drop}"
                )
            elif self.outcomes.matured and ref is None:
                lines.append("decay not judged: the model has no backtest AUC")
            if self.outcomes.unmatched:
                lines.append(
                    f"{self.outcomes.unmatched:,} scored customers have no purchase before "
                    f"{self.outcomes.scores_as_of.date()} in these transactions (left out)"
                )
        return lines

    def metrics(self) -> dict[str, float]:
        """Every figure as a number: PSI per column, counts, outcome figures, verdicts."""
        d = self.drift
        out = {f"psi_{c}": float(v) for c, v in zip(d.table["column"], d.table["psi"], strict=True)}
        out.update(
            {
                "psi_max": float(d.table["psi"].max()),
                "columns_moved": float(len(d.moved)),
                "columns_warned": float(len(d.warned)),
                "batch_rows": float(d.rows),
                "reference_rows": float(d.reference_rows),
                "decayed": float(self.decayed),
                "exit_code": float(self.exit_code),
            }
        )
        if self.reference.backtest_auc is not None:
            out["reference_auc"] = self.reference.backtest_auc
        if self.outcomes is not None:
            out.update(self.outcomes.metrics())
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def summary(self) -> dict[str, Any]:
        """``summary.json``: the verdict, the thresholds and every figure."""
        o = self.outcomes
        return {
            "as_of": self.as_of.date().isoformat(),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "reference_as_of": self.reference.as_of,
            "thresholds": self.config.model_dump(),
            "moved": self.drift.moved,
            "warned": self.drift.warned,
            "decayed": self.decayed,
            "labels_matured": None if o is None else o.matured,
            "labels_mature_on": None if o is None else o.matures_on.date().isoformat(),
            "exit_code": self.exit_code,
            "messages": self.messages(),
            "metrics": self.metrics(),
        }


def run_monitor(
    bundle: ModelBundle,
    tables: InputTables,
    as_of: pd.Timestamp | str | None = None,
    config: MonitorConfig | None = None,
    scores: pd.DataFrame | None = None,
) -> MonitorResult:
    """Check a batch against ``bundle``'s reference and, given ``scores``, their outcomes.

    Parameters
    ----------
    bundle
        The model; its ``reference`` is required (bundles trained before monitoring
        have none: retrain).
    tables
        The new batch's validated tables; history before ``as_of`` is scored.
    as_of
        The batch's cut-off (exclusive), also the end of what is known for outcomes;
        default: the day after the last transaction.
    config
        Thresholds; default the bundle's ``config.monitor``.
    scores
        A published scores file's rows, checked against the purchases in ``tables``.

    Raises
    ------
    ChurnmlError
        The bundle has no reference statistics.
    DataValidationError
        The batch has fewer than ``config.min_rows`` customers (its PSI would be
        noise), or ``scores`` is not a scores file.
    """
    cfg = config or bundle.config.monitor
    if bundle.reference is None:
        raise ChurnmlError(
            f"model {bundle.model_name} version {bundle.model_version} has no reference "
            "statistics (reference.json): it was trained before monitoring existed. "
            "Retrain it with `churnml train` to monitor it."
        )
    if as_of is None:
        cutoff = tables.transactions["order_date"].max().normalize() + pd.Timedelta(days=1)
    else:
        cutoff = pd.Timestamp(as_of).normalize()
    observed = observe(bundle, tables, cutoff)
    if len(observed) < cfg.min_rows:
        raise DataValidationError(
            [
                Problem(
                    "transactions",
                    "customer_id",
                    f"{len(observed):,} customers have a purchase before {cutoff.date()}; "
                    f"drift is judged from monitor.min_rows = {cfg.min_rows:,} (--min-rows)",
                )
            ]
        )
    reference = bundle.reference
    outcomes = None
    if scores is not None:
        window = bundle.config.time.churn_window_days
        outcomes = check_outcomes(scores, tables.transactions, cutoff, window)
    score_ref = reference.scores["churn_probability"]
    batch_score = Binned(score_ref.edges, score_ref.count(observed["churn_probability"].to_numpy()))
    return MonitorResult(
        as_of=cutoff,
        model_name=bundle.model_name,
        model_version=str(bundle.model_version),
        config=cfg,
        reference=reference,
        drift=drift_report(reference, observed, cfg),
        batch_score=batch_score,
        outcomes=outcomes,
    )
