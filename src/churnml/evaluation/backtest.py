"""Backtest: score a past cut-off with a registered bundle and compare with what happened.

The bundle scores every customer as of ``as_of`` exactly as it would have that
day (nothing on or after the cut-off is read); the realised outcomes in the
churn window and the horizon after it are then the judge: churn metrics with
the same baselines as training (the naive LightGBM trained at ``as_of - window``
on the labels that end at ``as_of`` included), the prediction-quality report
(deciles, lift, histogram), and CLV ranking against realised spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.data.contract import InputTables
from churnml.errors import ChurnmlError
from churnml.evaluation.churn_report import ChurnReport, evaluate_churn
from churnml.evaluation.ltv_diagnostics import holdout_actuals, normalised_gini
from churnml.evaluation.naive import naive_lightgbm_proba
from churnml.features import churn_labels
from churnml.models.inputs import model_inputs
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import Scorer


@dataclass
class BacktestResult:
    """Scores at the cut-off, realised outcomes and the metrics comparing them."""

    as_of: pd.Timestamp
    scores: pd.DataFrame
    churn: ChurnReport
    metrics: dict[str, float]
    horizon_observed_days: int


def backtest(bundle: ModelBundle, tables: InputTables, as_of: pd.Timestamp | str) -> BacktestResult:
    """Score ``as_of`` with ``bundle`` and evaluate against the transactions after it."""
    cutoff = pd.Timestamp(as_of).normalize()
    window = bundle.config.time.churn_window_days
    last_day = tables.transactions["order_date"].max().normalize() + pd.Timedelta(days=1)
    observed = int((last_day - cutoff).days)
    if observed < window:
        raise ChurnmlError(
            f"the data end {observed} days after {cutoff.date()}: a backtest needs the full "
            f"{window}-day churn window after the cut-off; choose an earlier --as-of"
        )
    scores = Scorer(bundle).score(tables, cutoff)
    if scores.empty:
        raise ChurnmlError(f"no customer has a purchase before {cutoff.date()}")
    inputs = model_inputs(tables, cutoff, bundle.ltv, bundle.config.time.horizon_days, window)
    labels = churn_labels(tables.transactions, cutoff, window).reindex(inputs.index)
    proba = scores.set_index("customer_id")["churn_probability"].reindex(inputs.index.astype(str))
    naive = naive_lightgbm_proba(tables, inputs, labels, cutoff, window, seed=bundle.config.seed)
    report = evaluate_churn(
        labels.to_numpy(),
        proba.to_numpy(dtype=float),
        inputs,
        naive_proba=naive,
        title=f"version {bundle.model_version} at {cutoff.date()}",
    )
    horizon = min(bundle.config.time.horizon_days, observed)
    actual = holdout_actuals(
        tables.transactions, inputs.index, cutoff, cutoff + pd.Timedelta(days=horizon)
    )
    clv = scores.set_index("customer_id")["clv"].reindex(inputs.index.astype(str)).to_numpy(float)
    spend = actual["actual_spend"].to_numpy(dtype=float)
    metrics = dict(report.metrics)
    metrics["clv_normalised_gini"] = float(normalised_gini(spend, clv))
    metrics["clv_spearman"] = float(pd.Series(clv).corr(pd.Series(spend), method="spearman"))
    metrics["realised_spend_total"] = float(spend.sum())
    metrics["customers"] = float(len(inputs))
    metrics["churn_rate"] = float(np.mean(labels.to_numpy()))
    return BacktestResult(cutoff, scores, report, metrics, horizon)
