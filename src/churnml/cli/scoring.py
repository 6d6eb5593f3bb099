"""Commands that score customers: score (batch) and serve (HTTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import typer

from churnml.cli._app import ModelOpt, StrPathOpt, _friendly, _model_uri, app, out
from churnml.errors import ChurnmlError


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
    from churnml.privacy.suppression import load_suppressions
    from churnml.scoring.engines import ENGINES, score_with_engine
    from churnml.tracking import configure_mlflow
    from churnml.tracking.pyfunc import load_bundle

    if engine not in ENGINES:  # before loading the model
        raise ChurnmlError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    configure_mlflow()
    bundle = load_bundle(_model_uri(model_uri, model_alias))
    # Customers who asked to be forgotten are never contacted (churnml forget).
    bundle = bundle.with_suppressed(load_suppressions(publish_url).ids)
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
