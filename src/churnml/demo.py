"""The main job on bundled data: simulate -> validate -> train -> register -> batch-score.

A newcomer runs it with ``make demo`` (or ``churnml demo``) and sees, in a couple
of minutes, what churnml produces and where MLflow keeps it. Because the data are
simulated, the demo can also say how good the scores were against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from churnml.config import Config
from churnml.data import describe_tables, load_tables, write_table
from churnml.datasets import simulate
from churnml.pipeline import TrainResult, train
from churnml.scoring.scorer import Scorer
from churnml.tracking import churnml_home


@dataclass
class DemoResult:
    """Everything the demo made, for printing."""

    data_dir: Path
    scores_path: Path
    tables_summary: list[dict[str, object]]
    training: TrainResult
    scores: pd.DataFrame
    truth_auc: float
    truth_churn_rate: float


def run_demo(
    n_customers: int = 5_000, seed: int = 7, home: Path | None = None, show_progress: bool = True
) -> DemoResult:
    """Run the main job end to end in ``home`` (default ``$CHURNML_HOME``)."""
    base = (home or churnml_home()) / "demo"
    sim = simulate(n_customers, seed=seed)
    paths = sim.write(base / "data")
    tables = load_tables(
        paths["transactions"], paths["customers"], paths["events"], paths["campaigns"]
    )
    config = Config().with_overrides(
        data={k: paths[k] for k in ("transactions", "customers", "events", "campaigns")},
        time={"as_of": sim.as_of.date()},
    )
    result = train(config, tables=tables, show_progress=show_progress)
    scores = Scorer(result.bundle).score(tables, sim.as_of)
    scores_path = base / "scores.parquet"
    write_table(scores, scores_path)
    truth = sim.truth.set_index("customer_id").reindex(scores["customer_id"])
    churned = truth["churned_in_window_90"].astype(float).to_numpy()
    auc = (
        float(roc_auc_score(churned, scores["churn_probability"]))
        if 0 < churned.mean() < 1
        else float("nan")
    )
    return DemoResult(
        data_dir=base / "data",
        scores_path=scores_path,
        tables_summary=describe_tables(tables),
        training=result,
        scores=scores,
        truth_auc=auc,
        truth_churn_rate=float(churned.mean()),
    )


def top_at_risk(scores: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The customers with the most value at risk (churn probability x CLV)."""
    at_risk = scores.assign(value_at_risk=scores["churn_probability"] * scores["clv"])
    cols = [
        "customer_id",
        "segment",
        "value_tier",
        "churn_probability",
        "clv",
        "value_at_risk",
        "next_best_action",
        "control_group",
    ]
    return at_risk.nlargest(n, "value_at_risk")[cols]


def segment_rows(scores: pd.DataFrame) -> list[dict[str, object]]:
    """Customers, mean churn probability and mean CLV per segment, largest first."""
    seg = (
        scores.groupby("segment")
        .agg(
            customers=("customer_id", "size"),
            mean_churn=("churn_probability", "mean"),
            mean_clv=("clv", "mean"),
        )
        .reset_index()
        .sort_values("customers", ascending=False)
    )
    return [
        {
            "segment": r.segment,
            "customers": int(r.customers),
            "mean churn prob.": f"{r.mean_churn:.2f}",
            "mean CLV": f"{r.mean_clv:,.0f}",
        }
        for r in seg.itertuples()
    ]


def campaign_rows(scores: pd.DataFrame) -> list[dict[str, object]]:
    """Customers per next best action, treated and control apart."""
    acts = (
        scores.groupby(["next_best_action", "control_group"])
        .size()
        .rename("customers")
        .reset_index()
    )
    return [
        {
            "next best action": r.next_best_action,
            "control group": "yes" if r.control_group else "no",
            "customers": int(r.customers),
        }
        for r in acts.itertuples()
    ]


def top_at_risk_rows(scores: pd.DataFrame, n: int = 10) -> list[dict[str, object]]:
    """:func:`top_at_risk` as rows to print."""
    return [
        {
            "customer": r.customer_id,
            "segment": r.segment,
            "tier": r.value_tier,
            "churn prob.": f"{r.churn_probability:.2f}",
            "CLV": f"{r.clv:,.0f}",
            "action": r.next_best_action,
        }
        for r in top_at_risk(scores, n).itertuples()
    ]
