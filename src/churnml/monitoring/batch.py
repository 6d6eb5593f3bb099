"""A batch as the model sees it: its model inputs and scores, by the scorer's code path.

Drift is only meaningful on the numbers the model really receives, so nothing here
computes a feature: :func:`observe` calls :func:`churnml.models.inputs.model_inputs`
with the bundle's LTV model and settings and the churn model's ``predict_proba``,
exactly what :meth:`churnml.scoring.Scorer.score` does before the policy (the
policy, reasons and segments are not needed to compare distributions, and are most
of the scorer's cost). Training calls :func:`reference_stats` on the same path at
its ``as_of``, so reference and batch differ only by the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.data.contract import InputTables
from churnml.models.inputs import model_inputs
from churnml.monitoring.reference import ReferenceStats
from churnml.scoring.bundle import ModelBundle

#: Scores whose distributions are kept beside the features.
SCORE_COLUMNS: tuple[str, ...] = ("churn_probability", "clv")


def observe(bundle: ModelBundle, tables: InputTables, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """The churn model's features and the scores of every customer with history before ``as_of``.

    Columns: ``bundle.churn.feature_names_`` (model order), then ``SCORE_COLUMNS``;
    indexed by ``customer_id``. Empty (same columns) when nobody has history.
    """
    cfg = bundle.config.time
    cutoff = pd.Timestamp(as_of).normalize()
    inputs = model_inputs(tables, cutoff, bundle.ltv, cfg.horizon_days, cfg.churn_window_days)
    features = list(bundle.churn.feature_names_)
    frame = inputs.reindex(columns=features).astype(float)
    if inputs.empty:
        proba = np.empty(0)
    else:
        proba = bundle.churn.predict_proba(bundle.churn.feature_matrix(inputs))
    frame["churn_probability"] = np.asarray(proba, dtype=float)
    frame["clv"] = inputs["clv"].to_numpy(dtype=float) if "clv" in inputs else np.nan
    return frame


def reference_stats(
    bundle: ModelBundle, tables: InputTables, as_of: pd.Timestamp | str, n_bins: int | None = None
) -> ReferenceStats:
    """The bundle's :class:`ReferenceStats`: its inputs and scores at ``as_of``, binned.

    ``n_bins`` defaults to ``bundle.config.monitor.n_bins``; the backtest AUC is the
    bundle's ``churn_roc_auc`` metric (``None`` when missing or not finite).
    """
    frame = observe(bundle, tables, as_of)
    auc = bundle.metrics.get("churn_roc_auc")
    features = [c for c in frame.columns if c not in SCORE_COLUMNS]
    return ReferenceStats.from_columns(
        as_of=pd.Timestamp(as_of).date().isoformat(),
        features={c: frame[c].to_numpy() for c in features},
        scores={c: frame[c].to_numpy() for c in SCORE_COLUMNS},
        backtest_auc=float(auc) if auc is not None and np.isfinite(auc) else None,
        n_bins=n_bins or bundle.config.monitor.n_bins,
    )
