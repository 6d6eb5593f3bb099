"""Commands that make and judge models: simulate, validate, train, evaluate, promote, demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from churnml.cli._app import (
    DateOpt,
    ModelOpt,
    PathOpt,
    _config,
    _frame_table,
    _friendly,
    _model_uri,
    _table,
    app,
    err,
    out,
)

if TYPE_CHECKING:
    from churnml.pipeline import TrainResult


@app.command()
@_friendly
def simulate(
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=1, help="Number of customers.")
    ] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("data/simulated"),
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(help="Scoring cut-off of the truth table.", formats=["%Y-%m-%d"]),
    ] = None,
) -> None:
    """Simulate an omnichannel retailer: transactions, customers, events, campaigns and truth."""
    from churnml.datasets import simulate as run

    kwargs: dict[str, Any] = {}
    if as_of is not None:
        kwargs["as_of"] = as_of.date()
    with out.status(f"Simulating {customers:,} customers..."):
        data = run(customers, seed=seed, **kwargs)
        paths = data.write(out_dir)
    rows = [
        {"file": str(path), "rows": len(getattr(data, name))}
        for name, path in paths.items()
        if name != "params"
    ]
    out.print(
        _table(
            rows,
            title=f"Simulated data (transactions to {data.as_of.date() + dt.timedelta(days=data.horizon_days)}, truth as of {data.as_of.date()})",
        )
    )


@app.command()
@_friendly
def validate(
    transactions: Annotated[Path, typer.Option(help="Transactions (CSV or Parquet).")],
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: PathOpt = None,
    strict: Annotated[bool, typer.Option(help="Reject unknown event types.")] = False,
) -> None:
    """Check input files against the data contract and print a report."""
    from churnml.data import describe_tables, load_tables

    tables = load_tables(transactions, customers, events, campaigns, strict_events=strict)
    out.print(_table(describe_tables(tables), title="Valid input"))


@app.command()
@_friendly
def train(
    transactions: PathOpt = None,
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: PathOpt = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Bundled data instead of files: simulated, cdnow_sample or cdnow_master."
        ),
    ] = None,
    as_of: DateOpt = None,
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="CLV / expected purchases horizon.")
    ] = None,
    churn_window_days: Annotated[
        int | None, typer.Option(min=1, help="Churn = no purchase within this many days.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration (see training/configs/default.yaml).")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
) -> None:
    """Train, evaluate, log to MLflow and register a model bundle."""
    from churnml.pipeline import train as run

    cfg = _config(
        config,
        data={
            "transactions": transactions,
            "customers": customers,
            "events": events,
            "campaigns": campaigns,
            "dataset": dataset,
        },
        time={
            "as_of": as_of.date() if as_of else None,
            "horizon_days": horizon_days,
            "churn_window_days": churn_window_days,
        },
        tracking={"experiment": experiment, "model_name": model_name},
    )
    result = run(cfg)
    _print_training(result)


def _print_training(result: TrainResult) -> None:
    m = result.metrics
    rows = [
        {
            "model": name,
            "ROC-AUC": f"{m.get(prefix + 'roc_auc', float('nan')):.3f}",
            "PR-AUC": f"{m.get(prefix + 'pr_auc', float('nan')):.3f}",
            "top-decile lift": f"{m.get(prefix + 'top_decile_lift', float('nan')):.2f}",
        }
        for name, prefix in (
            ("churn model", "churn_"),
            ("naive LightGBM", "baseline_naive_lightgbm_"),
            ("recency baseline", "baseline_recency_"),
            ("BG/NBD P(no purchase)", "baseline_bgnbd_p_no_purchase_"),
            ("BG/NBD expected purchases", "baseline_bgnbd_expected_purchases_"),
        )
        if prefix + "roc_auc" in m
    ]
    mode = "cross-fitted" if m.get("backtest_train_cutoffs", 0) == 0 else "backtest"
    out.print(
        _table(
            rows,
            title=f"Churn: {mode} at {result.eval_cutoff.date()} "
            f"({int(m.get('eval_rows', 0)):,} customers, churn rate {m.get('eval_churn_rate', 0):.1%}); "
            f"shipped model refitted on {int(m.get('train_rows', 0)):,} rows up to {result.as_of.date()}",
        )
    )
    if result.churn_report is not None and result.churn_report.quality is not None:
        out.print(result.churn_report.quality.summary().replace("**", ""))
    for warning in result.warnings or []:
        err.print(f"[yellow]Warning[/]: {warning}", highlight=False)
    out.print(f"MLflow run [bold]{result.run_id}[/] in {result.tracking_uri}")
    if result.version is not None and result.decision is not None:
        state = "[green]champion[/]" if result.decision.promote else "[yellow]challenger[/]"
        out.print(
            f"Registered [bold]{result.model_name}[/] version {result.version} as {state}: {result.decision.reason}"
        )


@app.command()
@_friendly
def evaluate(
    transactions: Annotated[
        Path, typer.Option(help="Transactions covering the cut-off and the weeks after it.")
    ],
    as_of: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Past cut-off to backtest.")
    ],
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: PathOpt = None,
    model_alias: Annotated[str, typer.Option(help="Registry alias to evaluate.")] = "champion",
    model_uri: ModelOpt = None,
    report: Annotated[Path | None, typer.Option(help="Write the Markdown report here.")] = None,
) -> None:
    """Backtest: score a past cut-off with a registered model and compare with what happened."""
    from churnml.data import load_tables
    from churnml.evaluation.backtest import backtest
    from churnml.tracking import configure_mlflow
    from churnml.tracking.pyfunc import load_bundle

    configure_mlflow()
    uri = _model_uri(model_uri, model_alias)
    bundle = load_bundle(uri)
    tables = load_tables(transactions, customers, events, campaigns)
    result = backtest(bundle, tables, as_of)
    out.print(
        f"Backtest of {uri} (version {bundle.model_version}) at {result.as_of.date()}: "
        f"{int(result.metrics['customers']):,} customers, churn rate {result.metrics['churn_rate']:.1%}"
    )
    out.print(
        _frame_table(result.churn.table, title="Churn: model and baselines on the same customers")
    )
    quality = result.churn.quality
    if quality is not None:
        out.print(quality.summary().replace("**", ""))
        out.print(_frame_table(quality.deciles, title="Actual vs predicted churn rate per decile"))
    out.print(
        f"CLV vs realised spend over {result.horizon_observed_days} days: normalised Gini "
        f"{result.metrics['clv_normalised_gini']:.3f}, Spearman {result.metrics['clv_spearman']:.3f}"
    )
    if report is not None:
        parts = [f"# Backtest of {uri} at {result.as_of.date()}", result.churn.to_markdown()]
        if quality is not None:
            parts.append(quality.to_markdown())
        report.write_text("\n\n".join(parts) + "\n")
        plots = result.churn.save_plots(report.with_suffix("").with_name(report.stem + "_plots"))
        out.print(f"Report: {report}; {len(plots)} plots in {plots[0].parent}")


@app.command()
@_friendly
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion.")],
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "churnml",
) -> None:
    """Point the champion alias at VERSION (by hand)."""
    from churnml.tracking import configure_mlflow, get_alias_version
    from churnml.tracking import promote as run

    client = configure_mlflow()
    before = get_alias_version(client, model_name, "champion")
    mv = run(client, model_name, version)
    was = f" (was version {before.version})" if before is not None else ""
    out.print(f"{model_name}@champion -> version {mv.version}{was}")


@app.command()
@_friendly
def demo(
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=500, help="Simulated customers.")
    ] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
) -> None:
    """The main job on bundled data: simulate, train, register, batch-score, summarise."""
    from churnml.demo import campaign_rows, run_demo, segment_rows, top_at_risk_rows

    out.rule("[bold]churnml demo")
    out.print(
        f"Simulating an omnichannel retailer with {customers:,} customers, then training on it..."
    )
    result = run_demo(customers, seed=seed)
    out.print(_table(result.tables_summary, title=f"Input data ({result.data_dir})"))
    _print_training(result.training)
    s = result.scores
    out.print(
        f"\nScored {len(s):,} customers as of {result.training.as_of.date()} -> {result.scores_path}"
    )
    out.print(_table(segment_rows(s), title="Segments"))
    out.print(_table(campaign_rows(s), title="Win-back campaign"))
    out.print(_table(top_at_risk_rows(s), title="Top 10 high-value customers at risk"))
    out.print(
        f"Against the simulator's truth: churn AUC {result.truth_auc:.3f} "
        f"(true 90-day churn rate {result.truth_churn_rate:.1%})."
    )
    out.print(f"\nBrowse the run: {result.training.run_url_hint}")
