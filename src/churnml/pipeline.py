"""Training end to end: validate -> features -> LTV -> churn -> uplift -> evaluate -> log -> register.

Time
----
``as_of`` is the scoring date the bundle is trained for (exclusive). The churn
procedure is first *backtested*: trained on rolling cut-offs whose label windows end
by the evaluation cut-off ``as_of - churn_window_days`` and judged on the customers
at that cut-off against what they really did in ``[eval_cutoff, as_of)``. The model
that ships is then fitted with the same settings on the newest cut-offs, whose
windows end by ``as_of`` (:mod:`churnml.models.procedure`); the logged churn metrics
describe the procedure one window earlier. With a short history the evaluation is
cross-fitted by customer instead, and with too short a history training stops with
a message that says what would work (:mod:`churnml.models.sufficiency`). The LTV
model used for scoring is refitted on all history before ``as_of`` (it is
unsupervised; nothing is lost by using the latest purchases).

A run records the configuration, a data fingerprint, which cut-offs and rows each
churn model saw, every metric (baselines included), the prediction-quality report,
plots, a Markdown report and the bundle, then registers it and applies the
champion/challenger rule on the same evaluation rows (see :func:`_champion_metric`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from churnml.actions.catalogue import load_catalogue
from churnml.actions.fitting import fit_uplift
from churnml.config import Config
from churnml.data.contract import InputTables, validate_tables
from churnml.data.load import load_tables
from churnml.datasets import load_cdnow, simulate
from churnml.errors import ConfigError
from churnml.evaluation.churn_report import ChurnReport, evaluate_churn
from churnml.evaluation.ltv_diagnostics import write_ltv_diagnostics
from churnml.evaluation.naive import naive_lightgbm_proba
from churnml.evaluation.policy import write_campaign_views
from churnml.features import rfm_summary
from churnml.models.churn import ChurnModel
from churnml.models.ltv import LTVModel
from churnml.models.procedure import ChurnFit, backtest_proba, fit_churn
from churnml.models.sufficiency import check_history
from churnml.monitoring.batch import reference_stats
from churnml.privacy.suppression import drop_suppressed, load_suppressions
from churnml.scoring.bundle import ModelBundle
from churnml.segments import ValueTiers
from churnml.tracking import (
    CHAMPION,
    PromotionDecision,
    configure_mlflow,
    data_fingerprint,
    decide_promotion,
    get_alias_version,
    promote,
    register_version,
)
from churnml.tracking.pyfunc import example_transactions, load_bundle, log_bundle

#: Days after a send date in which a purchase counts as a campaign response.

STEPS = ("validate", "features", "ltv", "churn", "uplift", "evaluate", "log", "register")


@dataclass
class TrainResult:
    """What a training run produced and decided."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    model_name: str
    version: str | None
    decision: PromotionDecision | None
    metrics: dict[str, float]
    bundle: ModelBundle
    as_of: pd.Timestamp
    eval_cutoff: pd.Timestamp
    report_markdown: str
    churn_report: ChurnReport | None = None
    training_rows: pd.DataFrame | None = None
    warnings: list[str] | None = None

    @property
    def run_url_hint(self) -> str:
        if self.tracking_uri.startswith("sqlite:///"):
            return f"mlflow ui --backend-store-uri {self.tracking_uri}  ->  experiment {self.experiment_id}, run {self.run_id}"
        return (
            f"{self.tracking_uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        )


def load_inputs(config: Config) -> InputTables:
    """The validated tables named by ``config.data`` (files or a bundled data set)."""
    d = config.data
    if d.transactions is not None:
        return load_tables(
            d.transactions, d.customers, d.events, d.campaigns, strict_events=d.strict_events
        )
    if d.dataset == "simulated":
        sim = simulate(d.simulate_customers, seed=config.seed)
        return validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    if d.dataset in ("cdnow_sample", "cdnow_master"):
        return validate_tables(load_cdnow("sample" if d.dataset == "cdnow_sample" else "master"))
    raise ConfigError("no input: set data.transactions (or --transactions) or data.dataset")


def resolve_as_of(config: Config, tables: InputTables) -> pd.Timestamp:
    """``time.as_of`` or, by default, the day after the last transaction."""
    if config.time.as_of is not None:
        return pd.Timestamp(config.time.as_of)
    return tables.transactions["order_date"].max().normalize() + pd.Timedelta(days=1)


def _champion_metric(config: Config, fit: ChurnFit) -> tuple[float | None, str | None, str]:
    """The champion's promotion metric on this run's evaluation rows, and how it was measured.

    The challenger's metric is a backtest: a model that never saw the evaluation
    labels. The champion must be judged the same way, on the same rows:

    - a champion trained for an ``as_of`` on or before the evaluation cut-off never saw
      those labels, so its shipped churn model scores the evaluation rows as is;
    - a newer champion (the usual case: it was refitted on labels up to its own
      ``as_of``, which may cover the evaluation window) would be judged on labels it
      trained on, so its *procedure* is backtested instead: its churn settings fitted
      on this run's backtest rows (cross-fitted when this run's evaluation is).

    Returns ``(value, version, how)``; ``(None, None, "")`` without a champion.
    """
    from mlflow.tracking import MlflowClient

    name = config.tracking.model_name
    champion = get_alias_version(MlflowClient(), name, CHAMPION)
    if champion is None:
        return None, None, ""
    bundle = load_bundle(f"models:/{name}@{CHAMPION}")
    rows = fit.rows
    if pd.Timestamp(bundle.as_of) <= rows.cutoff:
        proba = bundle.churn.predict_proba(rows.inputs)
        how = "champion's shipped model (trained before the evaluation cut-off)"
    else:
        cfg = bundle.config

        def make_model() -> ChurnModel:
            return ChurnModel.from_config(cfg.churn, random_state=cfg.seed)

        proba, _ = backtest_proba(make_model, fit.training, fit.check, rows)
        how = "champion's settings backtested on this run's rows"
    report = evaluate_churn(rows.labels.to_numpy(), proba, rows.inputs)
    return report.metrics.get(config.tracking.promotion_metric), str(champion.version), how


@contextmanager
def _steps(show: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``begin(step)``: shows the step running and counts the previous one done."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with progress:
        task = progress.add_task("training", total=len(STEPS))

        def begin(step: str) -> None:
            done = STEPS.index(step) if step in STEPS else len(STEPS)
            progress.update(task, description=f"training: {step}", completed=done)

        yield begin
        begin("finished")


def train(
    config: Config, tables: InputTables | None = None, show_progress: bool = True
) -> TrainResult:
    """Train, evaluate, log and register a bundle; return what happened.

    Parameters
    ----------
    config
        The run's configuration (``Config()`` trains on the simulated data set).
    tables
        Already validated tables; default: read what ``config.data`` names.
    show_progress
        Show a progress bar on stderr.
    """
    with _steps(show_progress) as step:
        step("validate")
        if tables is None:
            tables = load_inputs(config)
        # Customers who asked to be forgotten are not learned from (the ids stay unlogged).
        suppressed = load_suppressions()
        forgotten = int(suppressed.mask(tables.transactions["customer_id"].unique()).sum())
        tables = drop_suppressed(tables, suppressed)
        as_of = resolve_as_of(config, tables)

        check = check_history(tables, as_of, config.time)  # refuse early, before any fit

        step("features")
        step("ltv")
        ltv = LTVModel.from_config(config.ltv).fit(
            rfm_summary(tables.transactions, as_of, config.ltv.time_unit)
        )

        step("churn")
        fit = fit_churn(tables, as_of, config, check)
        churn, rows = fit.shipped, fit.rows

        step("uplift")
        uplift_fit = fit_uplift(tables, config, as_of)
        uplift, uplift_info = uplift_fit.conversion, uplift_fit.info

        step("evaluate")
        with tempfile.TemporaryDirectory() as tmp:
            plots = Path(tmp)
            naive = naive_lightgbm_proba(
                tables,
                rows.inputs,
                rows.labels,
                rows.cutoff,
                config.time.churn_window_days,
                seed=config.seed,
            )
            title = (
                f"backtest at {rows.cutoff.date()}"
                if fit.check.mode == "backtest"
                else f"cross-fitted at {rows.cutoff.date()}"
            )
            report: ChurnReport = evaluate_churn(
                rows.labels.to_numpy(),
                fit.backtest_proba,
                rows.inputs,
                model=fit.backtest_model or churn,
                naive_proba=naive,
                title=title,
            )
            report.save_plots(plots / "churn")
            seen = fit.rows_seen()
            seen.to_csv(plots / "training_rows.csv")
            assert report.quality is not None
            report.quality.deciles.to_csv(plots / "quality_deciles.csv")
            report.quality.lift.to_csv(plots / "quality_lift.csv")
            ltv_eval = LTVModel.from_config(config.ltv)
            ltv_eval.fit(rfm_summary(tables.transactions, rows.cutoff, config.ltv.time_unit))
            ltv_diag = write_ltv_diagnostics(
                ltv_eval, tables.transactions, rows.cutoff, as_of, plots / "ltv"
            )
            metrics = dict(report.metrics)
            metrics.update(
                {f"ltv_{k}": float(v) for k, v in ltv_diag["metrics"].items() if np.isfinite(v)}
            )
            metrics.update(
                {
                    f"ltv_fit_{k}": float(v)
                    for k, v in ltv.fit_report_.items()
                    if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
                }
            )
            metrics.update(_rows_metrics(fit))
            metrics["suppressed_customers_dropped"] = float(forgotten)
            scoring_rfm = rfm_summary(tables.transactions, as_of, config.ltv.time_unit)
            clv = ltv.predict(scoring_rfm, config.time.horizon_days, config.time.churn_window_days)[
                "clv"
            ]
            bundle = ModelBundle(
                ltv=ltv,
                churn=churn,
                value_tiers=ValueTiers.from_config(config.segments).fit(clv.to_numpy()),
                uplift=uplift,
                revenue_uplift=uplift_fit.revenue,
                catalogue=load_catalogue(config.policy.actions_path),
                config=config,
                as_of=as_of.date().isoformat(),
                metrics=metrics,
                model_name=config.tracking.model_name,
            )
            metrics.update(write_campaign_views(bundle, tables, config, as_of, plots / "policy"))
            # What `churnml monitor` compares new batches with (also a run artifact).
            bundle.reference = reference_stats(bundle, tables, as_of)
            bundle.reference.save(plots / "reference.json")
            report_md = _report_markdown(config, as_of, fit, seen, report, ltv_diag, uplift_info)
            (plots / "report.md").write_text(report_md)

            step("log")
            client = configure_mlflow(config.tracking.tracking_uri, config.tracking.experiment)
            with mlflow.start_run(run_name=f"train-{as_of.date()}") as run:
                mlflow.log_params(
                    {k: ("" if v is None else str(v)[:500]) for k, v in config.flat().items()}
                )
                mlflow.log_params(
                    {**data_fingerprint(tables), **{k: str(v) for k, v in uplift_info.items()}}
                )
                mlflow.log_params({k: str(v)[:500] for k, v in fit.summary().items()})
                mlflow.set_tags(
                    {
                        "as_of": as_of.date().isoformat(),
                        "eval_cutoff": rows.cutoff.date().isoformat(),
                        "churn.evaluation_mode": fit.check.mode,
                        "quality_grade": report.quality.grade,
                        "churnml.step": "train",
                    }
                )
                mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
                mlflow.log_artifacts(str(plots), artifact_path="evaluation")
                channels = tuple(sorted(tables.transactions["channel"].unique().tolist()))[:3]
                info = log_bundle(bundle, example_transactions(bundle.as_of, channels))

                step("register")
                version: str | None = None
                decision: PromotionDecision | None = None
                if config.tracking.register_model:
                    name = config.tracking.model_name
                    champion_value, champion_version, how = _champion_metric(config, fit)
                    mv = register_version(client, name, info.model_uri)
                    version = str(mv.version)
                    metric = config.tracking.promotion_metric
                    if metric not in metrics:
                        raise ConfigError(
                            f"tracking.promotion_metric {metric!r} is not a metric of this run "
                            f"(known: {', '.join(sorted(metrics))[:300]}...)"
                        )
                    decision = decide_promotion(
                        metric,
                        metrics[metric],
                        champion_value,
                        champion_version,
                        config.tracking.promotion_min_delta,
                    )
                    if decision.promote:
                        promote(client, name, version)
                    mlflow.set_tags(
                        {
                            "registered_version": version,
                            "promoted": str(decision.promote),
                            "promotion_reason": decision.reason,
                        }
                    )
                    if champion_value is not None:
                        mlflow.log_metric("champion_" + metric, champion_value)
                        mlflow.set_tag("champion_comparison", how)
                    bundle.model_version = version
    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        tracking_uri=mlflow.get_tracking_uri(),
        model_uri=info.model_uri,
        model_name=config.tracking.model_name,
        version=version,
        decision=decision,
        metrics=metrics,
        bundle=bundle,
        as_of=as_of,
        eval_cutoff=rows.cutoff,
        report_markdown=report_md,
        churn_report=report,
        training_rows=seen,
        warnings=list(fit.check.warnings),
    )


def _rows_metrics(fit: ChurnFit) -> dict[str, float]:
    """Row and cut-off counts of each churn model, and the shipped model's own held-out check."""
    seen = fit.rows_seen()
    back, ship = seen[seen["backtest_model"]], seen[seen["shipped_model"]]
    out = {
        "train_rows": float(ship["rows"].sum()),
        "train_cutoffs": float(len(ship)),
        "backtest_train_rows": float(back["rows"].sum()),
        "backtest_train_cutoffs": float(len(back)),
        "eval_rows": float(len(fit.rows.labels)),
        "eval_churn_rate": float(fit.rows.labels.mean()),
    }
    for key in ("roc_auc", "ece", "brier"):
        value = fit.shipped.validation_.get(key)
        if value is not None and np.isfinite(value):
            out[f"shipped_validation_{key}"] = float(value)
    return out


def _report_markdown(
    config: Config,
    as_of: pd.Timestamp,
    fit: ChurnFit,
    seen: pd.DataFrame,
    report: ChurnReport,
    ltv_diag: dict[str, Any],
    uplift_info: dict[str, Any],
) -> str:
    rows = fit.rows
    ltv_metrics = pd.Series(ltv_diag["metrics"], name="value").to_frame()
    how = (
        "Backtest of the procedure: a model trained on the windows that end by the "
        "evaluation cut-off, judged on what happened after it. The shipped model was then "
        "fitted with the same settings on the newest windows (ending by as_of)."
        if fit.check.mode == "backtest"
        else "Short history: no window ends before the evaluation cut-off, so the evaluation "
        "is cross-fitted by customer (each customer scored by a model that never saw them)."
    )
    assert report.quality is not None
    parts = [
        f"# churnml training report — as of {as_of.date()}",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Evaluation cut-off {rows.cutoff.date()}: "
        f"{len(rows.labels):,} customers, churn rate {rows.labels.mean():.1%} "
        f"(no purchase in the {config.time.churn_window_days} days after the cut-off). {how}",
        "## Training cut-offs (which rows each model saw)\n\n" + seen.to_markdown(floatfmt=".3f"),
        "## Churn model against baselines (same rows)\n\n" + report.to_markdown(),
        report.quality.to_markdown(),
        "## LTV holdout (model fitted before the evaluation cut-off)\n\n"
        + ltv_metrics.to_markdown(floatfmt=".4f"),
        "## Uplift\n\n" + "\n".join(f"- {k}: {v}" for k, v in uplift_info.items()),
    ]
    if fit.check.warnings:
        parts.insert(2, "## Warnings\n\n" + "\n".join(f"- {w}" for w in fit.check.warnings))
    return "\n\n".join(parts)
