"""The ``churnml`` command line: thin wrappers over the library.

Every command turns a :class:`~churnml.errors.ChurnmlError` (bad data, unknown
model, bad config) into a readable message on stderr and a non-zero exit code;
tracebacks are for bugs only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from churnml.errors import ChurnmlError, DataValidationError
from churnml.system import Terminated, interruption, raise_on_sigterm

if TYPE_CHECKING:
    from churnml.config import Config
    from churnml.pipeline import TrainResult

app = typer.Typer(
    help="Churn risk, customer lifetime value and win-back next-best-action.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Logs and CI are not terminals: give tables room instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

PathOpt = Annotated[Path | None, typer.Option(help="CSV or Parquet file.")]
# Kept as text so that URIs such as hdfs://namenode/x survive (Path would fold the //).
StrPathOpt = Annotated[str | None, typer.Option(help="CSV or Parquet file or URI.")]


def _friendly(fn: F) -> F:
    """Report user errors without a traceback: exit 2 for bad data, 1 otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as e:
            # An interrupt first, even one that a library turned into its own error.
            stop = interruption(e)
            if isinstance(stop, Terminated):
                err.print("[yellow]Terminated (SIGTERM); nothing was written.[/]")
                raise typer.Exit(143) from None
            if stop is not None:
                err.print("[yellow]Interrupted; nothing was written.[/]")
                raise typer.Exit(130) from None
            if isinstance(e, DataValidationError):
                err.print(f"[bold red]Invalid input[/]: {e}", highlight=False)
                raise typer.Exit(2) from None
            if isinstance(e, ChurnmlError):
                err.print(f"[bold red]Error[/]: {e}", highlight=False)
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


def _frame_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """A numeric frame as a rich table (index first, floats to 4 decimals, NaN as '-')."""
    rows = [
        {
            frame.index.name or "": str(idx),
            **{str(c): "-" if pd.isna(v) else f"{v:.4f}" for c, v in row.items()},
        }
        for idx, row in frame.iterrows()
    ]
    return _table(rows, title=title)


def _table(rows: Sequence[Mapping[str, object]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    if rows:
        for key in rows[0]:
            table.add_column(str(key))
        for row in rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    return table


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


DateOpt = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="Cut-off date (exclusive), YYYY-MM-DD."),
]


def _config(config: Path | None, **sections: dict[str, Any]) -> Config:
    from churnml.config import Config

    base = Config.from_yaml(config) if config else Config()
    return base.with_overrides(**sections)


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


ModelOpt = Annotated[
    str | None, typer.Option(help="MLflow model URI (default models:/<name>@<alias>).")
]


def _model_uri(model_uri: str | None, alias: str, name: str = "churnml") -> str:
    return model_uri or f"models:/{name}@{alias}"


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
def score(
    transactions: Annotated[
        str,
        typer.Option(
            help="Transactions (CSV, Parquet or a Parquet folder; hdfs:// etc. with Spark)."
        ),
    ],
    as_of: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Scoring cut-off (exclusive).")
    ],
    output: Annotated[
        str, typer.Option(help="Output file: .parquet or .csv (a folder with Spark).")
    ],
    customers: StrPathOpt = None,
    events: StrPathOpt = None,
    campaigns: StrPathOpt = None,
    model_alias: Annotated[str, typer.Option(help="Registry alias to score with.")] = "champion",
    model_uri: ModelOpt = None,
    engine: Annotated[str, typer.Option(help="pandas (one machine, chunked) or spark.")] = "pandas",
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="Spark master, e.g. local[2], yarn (default: spark-submit's, else local[*])."
        ),
    ] = None,
    chunk_customers: Annotated[
        int, typer.Option(min=1_000, help="Customers scored per chunk (memory bound).")
    ] = 50_000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="pandas engine: processes validating and scoring in parallel (default: one per CPU).",
        ),
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(help="Also write the scores to the SQL score table the HTTP service reads."),
    ] = False,
    publish_url: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the score table (default $CHURNML_SCORES_URL or SQLite in $CHURNML_HOME)."
        ),
    ] = None,
    contacts: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Campaign size: contact the N customers of highest expected incremental value "
            "over all customers (see the audience curve of the training run).",
        ),
    ] = None,
) -> None:
    """Batch-score every customer as of a date with a registered model."""
    from churnml.scoring.engines import ENGINES, score_with_engine
    from churnml.tracking import configure_mlflow
    from churnml.tracking.pyfunc import load_bundle

    if engine not in ENGINES:  # before loading the model
        raise ChurnmlError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    configure_mlflow()
    bundle = load_bundle(_model_uri(model_uri, model_alias))
    if contacts is not None:
        bundle = dataclasses.replace(
            bundle, config=bundle.config.with_overrides(policy={"max_contacts": contacts})
        )
    summary = score_with_engine(
        engine,
        transactions,
        customers,
        events,
        campaigns,
        as_of=as_of,
        output=output,
        bundle=bundle,
        chunk_customers=chunk_customers,
        workers=workers,
        spark_master=spark_master,
    )
    out.print(
        f"Scored {summary.customers:,} customers as of {summary.as_of} with {summary.model_name} "
        f"v{summary.model_version} ({summary.engine}, {summary.seconds:.1f} s, "
        f"{summary.customers_per_second:,.0f} customers/s) -> {summary.output}"
    )
    if summary.unscored:
        out.print(
            f"{summary.unscored:,} customers had no purchase before {summary.as_of} and were not scored."
        )
    if publish:
        from churnml.scoring.publish import publish_file

        rows = publish_file(summary.output, url=publish_url)
        out.print(f"Published {rows:,} rows to the score table.")


@app.command("evaluate-policy")
@_friendly
def evaluate_policy(
    transactions: Annotated[Path, typer.Option(help="Transactions (CSV or Parquet).")],
    campaigns: Annotated[Path, typer.Option(help="Past randomised campaigns (CSV or Parquet).")],
    customers: PathOpt = None,
    events: PathOpt = None,
    as_of: DateOpt = None,
    contacts: Annotated[
        int | None,
        typer.Option(min=1, help="Campaign size per send date (default: every positive contact)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration (see training/configs/default.yaml).")
    ] = None,
) -> None:
    """Estimate offline what the policy would have caused in past randomised campaigns.

    The uplift model is trained on 70% of the campaign customers; on the other 30%
    (described as on the send date) inverse-propensity and doubly robust estimates
    with 95% intervals of the incremental conversions and revenue of the policy,
    "contact everyone", "top churn risk" and "random" at the same number of contacts.
    """
    from churnml.actions.fitting import fit_uplift
    from churnml.data import load_tables
    from churnml.evaluation.policy import evaluate_policy_offline
    from churnml.pipeline import resolve_as_of

    cfg = _config(config, time={"as_of": as_of.date() if as_of else None})
    tables = load_tables(transactions, customers, events, campaigns)
    cutoff = resolve_as_of(cfg, tables)
    fit = fit_uplift(tables, cfg, cutoff)
    if fit.conversion.source_ != "learned":
        raise ChurnmlError(
            "no uplift could be learned from these campaigns: "
            + str(fit.info.get("uplift.fallback_reason", "no observed treated and control rows"))
        )
    report = evaluate_policy_offline(
        tables, cfg, cutoff, fit.conversion, n_contacts=contacts, revenue_model=fit.revenue
    ).report
    rows = [
        {
            **{k: r[k] for k in ("rule", "outcome", "estimator")},
            "contacts": f"{r['contacts']:,}",
            "estimate": f"{r['estimate']:,.1f}",
            "95% interval": f"[{r['low']:,.1f}, {r['high']:,.1f}]",
        }
        for r in report.to_dict("records")
    ]
    out.print(
        _table(rows, title=f"Offline policy evaluation (held-out customers, as of {cutoff.date()})")
    )


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    model_uri: Annotated[
        str | None,
        typer.Option(
            help="Model to serve (default $CHURNML_MODEL_URI or models:/churnml@champion)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per CPU).")
    ] = None,
) -> None:
    """Start the BentoML HTTP service (API key from $CHURNML_API_KEY, if set)."""
    from churnml.serving.run import serve as run

    run(host=host, port=port, model_uri=model_uri, workers=workers)


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


@app.command()
@_friendly
def lift(
    contacts: Annotated[
        Path, typer.Option(help="Campaign contacts: `churnml score` output or a campaigns table.")
    ],
    transactions: Annotated[
        Path, typer.Option(help="Transactions including the weeks after the send date.")
    ],
    sent_date: DateOpt = None,
    window_days: Annotated[
        int, typer.Option(min=1, help="Response window after the send date.")
    ] = 30,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the table, report and plot.")
    ] = Path("lift"),
    campaign_id: Annotated[
        str, typer.Option(help="Id given to the outcomes written as campaign history.")
    ] = "campaign",
    log_mlflow: Annotated[
        bool, typer.Option(help="Log the report to MLflow (experiment churnml-lift).")
    ] = True,
) -> None:
    """Measure a finished campaign: incremental conversion and revenue, treated vs control."""
    from churnml.actions.lift import measure_lift
    from churnml.data import read_table, validate_transactions, write_table

    plan = read_table(contacts, "contacts")
    tx = validate_transactions(read_table(transactions, "transactions"))
    try:
        report = measure_lift(plan, tx, window_days=window_days, sent_date=sent_date)
    except ValueError as e:  # contacts missing the treated/control flag and similar
        raise ChurnmlError(f"contacts: {e}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(report.to_frame(), out_dir / "lift.csv")
    (out_dir / "lift.md").write_text(report.to_markdown())
    plot = report.plot(out_dir / "lift.png")
    write_table(report.as_campaign_history(campaign_id), out_dir / "campaign_history.csv")
    out.print(report.to_markdown())
    out.print(
        f"Wrote {out_dir}/lift.csv, lift.md, lift.png and campaign_history.csv "
        "(use it as --campaigns history for the next training)."
    )
    if log_mlflow:
        from churnml.tracking.lift import log_lift

        run_id = log_lift(report, [out_dir / "lift.csv", out_dir / "lift.md", plot], campaign_id)
        out.print(f"MLflow run {run_id} (experiment churnml-lift)")


def _not_interrupt_noise(record: logging.LogRecord) -> bool:
    """False for a library's traceback of an interrupted call (Ctrl-C, SIGTERM).

    py4j logs every call that the interrupt cut short, with its traceback, on the root
    logger or its own, at ERROR level; the command's own message already says what
    happened and what was (not) written.
    """
    if record.msg == "KeyboardInterrupt while sending command.":
        return False
    return interruption(record.exc_info[1] if record.exc_info else None) is None


def main() -> None:
    """Entry point of the ``churnml`` script."""
    import os

    from rich.logging import RichHandler

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(_not_interrupt_noise)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
    for noisy in ("mlflow", "alembic", "py4j"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    raise_on_sigterm()  # a scheduler's SIGTERM cleans up like Ctrl-C (exit 143)
    try:
        app()
    except BrokenPipeError:  # e.g. `churnml ... | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
