"""The monitor command: has a batch drifted from the training data, has the model decayed?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnml.cli._app import (
    DateOpt,
    ModelOpt,
    PathOpt,
    _friendly,
    _model_uri,
    _table,
    app,
    out,
)

#: Rows of the drift table printed besides every column at warn or alert.
SHOWN_OK = 10


@app.command()
@_friendly
def monitor(
    transactions: Annotated[
        Path, typer.Option(help="The new batch's transactions (CSV or Parquet).")
    ],
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: PathOpt = None,
    as_of: DateOpt = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Published scores (output of churnml score) to check against what happened."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for drift.csv, outcomes.csv, summary.json, monitor.png."
        ),
    ] = None,
    model_alias: Annotated[str, typer.Option(help="Registry alias of the model.")] = "champion",
    model_uri: ModelOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML whose `monitor` section replaces the model's thresholds."),
    ] = None,
    psi_warn: Annotated[
        float | None, typer.Option(help="PSI from which a column is 'warn'.")
    ] = None,
    psi_alert: Annotated[
        float | None, typer.Option(help="PSI from which a column has moved (exit 3).")
    ] = None,
    max_auc_drop: Annotated[
        float | None,
        typer.Option(help="Matured AUC below the training backtest AUC by more: decay (exit 3)."),
    ] = None,
    min_rows: Annotated[
        int | None, typer.Option(help="Fewest customers for drift to be judged (else exit 2).")
    ] = None,
    log_mlflow: Annotated[
        bool, typer.Option(help="Log the check as a run of the churnml-monitor experiment.")
    ] = True,
) -> None:
    """Compare a batch with the model's training data and matured scores with the truth.

    Exit code 0: fine. 3: a feature or score moved (PSI >= psi_alert) or the matured AUC fell by more than max_auc_drop. 2: bad input. 1: other errors.
    """
    import tempfile

    from churnml.config import Config
    from churnml.data import load_tables
    from churnml.data.io import read_table
    from churnml.monitoring.check import run_monitor
    from churnml.monitoring.record import log_monitor, write_files
    from churnml.tracking import configure_mlflow
    from churnml.tracking.pyfunc import load_bundle

    configure_mlflow()
    uri = _model_uri(model_uri, model_alias)
    bundle = load_bundle(uri)
    base = Config.from_yaml(config) if config else bundle.config
    overrides = {
        "psi_warn": psi_warn,
        "psi_alert": psi_alert,
        "max_auc_drop": max_auc_drop,
        "min_rows": min_rows,
    }
    thresholds = base.with_overrides(monitor=overrides).monitor
    tables = load_tables(transactions, customers, events, campaigns)
    published = read_table(scores, table="scores") if scores is not None else None
    result = run_monitor(bundle, tables, as_of, thresholds, published)

    table = result.drift.table
    shown = table[(table["status"] != "ok") | (table.index < SHOWN_OK)]
    style = {"ok": "green", "warn": "yellow", "alert": "bold red"}
    rows = [
        {
            "column": r.column,
            "kind": r.kind,
            "PSI": f"{r.psi:.4f}",
            "chi-square": f"{r.chi2:,.1f}",
            "p-value": f"{r.chi2_p_value:.2g}",
            "status": f"[{style[r.status]}]{r.status}[/]",
        }
        for r in shown.itertuples()
    ]
    out.print(
        _table(
            rows,
            title=f"Drift of {result.drift.rows:,} customers as of {result.as_of.date()} against "
            f"{result.drift.reference_rows:,} at training ({result.reference.as_of}), "
            f"{result.model_name} v{result.model_version}",
        )
    )
    if len(shown) < len(table):
        out.print(f"{len(table) - len(shown)} more columns ok.")
    o = result.outcomes
    if o is not None and o.matured and o.deciles is not None:
        from churnml.cli._app import _frame_table

        out.print(_frame_table(o.deciles, title="Matured labels: churn per score decile"))

    if out_dir is not None or log_mlflow:
        with tempfile.TemporaryDirectory() as tmp:
            files = write_files(result, out_dir if out_dir is not None else tmp)
            if out_dir is not None:
                out.print(f"Wrote {', '.join(p.name for p in files)} to {out_dir}")
            if log_mlflow:
                run_id = log_monitor(result, files, uri)
                out.print(f"Logged to MLflow experiment churnml-monitor, run {run_id}")

    for line in result.messages():
        out.print(line, highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
