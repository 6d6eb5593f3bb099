"""The report command: the customer-base KPIs as one HTML file (and MLflow artifacts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from churnml.cli._app import DateOpt, ModelOpt, PathOpt, _config, _friendly, _model_uri, app, out
from churnml.errors import DataValidationError, Problem


@app.command()
@_friendly
def report(
    transactions: Annotated[Path, typer.Option(help="Transactions (CSV or Parquet).")],
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: Annotated[
        Path | None, typer.Option(help="Campaign history: lift of the last campaigns.")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="`churnml score` output (CSV or Parquet); default: score with the registered model."
        ),
    ] = None,
    as_of: DateOpt = None,
    model_alias: Annotated[
        str, typer.Option(help="Registry alias to score with (without --scores).")
    ] = "champion",
    model_uri: ModelOpt = None,
    out_path: Annotated[
        Path, typer.Option("--out", help="HTML file to write (replaced atomically).")
    ] = Path("report.html"),
    run_id: Annotated[
        str | None,
        typer.Option(help="Also log every figure (PNG) and the HTML to this MLflow run."),
    ] = None,
    last_campaigns: Annotated[
        int, typer.Option(min=1, help="Show the lift of this many most recent campaigns.")
    ] = 5,
) -> None:
    """Write the customer-base report: cohort retention, channels, segments, CLV, lift.

    One self-contained HTML file (figures embedded, opens offline). Segments, value
    tiers, CLV, P(alive) and churn risk come from --scores, or from scoring in
    process with the registered model.
    """
    from churnml.data import load_tables, read_table
    from churnml.pipeline import resolve_as_of
    from churnml.reporting import build_report
    from churnml.reporting.html import write_html

    if run_id is not None:
        from churnml.reporting.artifacts import check_run
        from churnml.tracking import configure_mlflow

        configure_mlflow()
        check_run(run_id)  # before any work
    tables = load_tables(transactions, customers, events, campaigns)
    cutoff = resolve_as_of(_config(None, time={"as_of": as_of.date() if as_of else None}), tables)
    if scores is not None:
        frame = read_table(scores, "scores")
        _check_scores_date(frame, cutoff)
    else:
        from churnml.scoring import Scorer
        from churnml.tracking import configure_mlflow
        from churnml.tracking.pyfunc import load_bundle

        configure_mlflow()
        frame = Scorer(load_bundle(_model_uri(model_uri, model_alias))).score(tables, cutoff)
    result = build_report(tables, frame, cutoff, last_campaigns=last_campaigns)
    path = write_html(result.html, out_path)
    out.print(
        f"Wrote {path} ({result.n_figures} figures, {result.kpis.headline['customers']:,} "
        f"customers as of {cutoff.date()})."
    )
    if run_id is not None:
        from churnml.reporting.artifacts import log_report

        logged = log_report(run_id, result, path)
        out.print(f"Logged {len(logged)} artifacts to MLflow run {run_id}.")


def _check_scores_date(scores: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Scores of another cut-off would mix two dates in one report: refuse them."""
    if "as_of" not in scores.columns or scores.empty:
        return
    dates = pd.to_datetime(scores["as_of"], errors="coerce").dt.normalize().dropna().unique()
    if len(dates) and any(pd.Timestamp(d) != cutoff for d in dates):
        found = ", ".join(str(pd.Timestamp(d).date()) for d in sorted(dates)[:3])
        raise DataValidationError(
            [
                Problem(
                    "scores",
                    "as_of",
                    f"scores are as of {found} but the report is as of {cutoff.date()} "
                    f"(pass --as-of {found.split(',')[0]})",
                )
            ]
        )
