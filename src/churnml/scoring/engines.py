"""Batch scoring by engine name: what ``churnml score --engine`` runs.

``pandas`` (:func:`~churnml.scoring.batch.score_files`: worker processes on one
machine) or ``spark`` (:func:`~churnml.scoring.spark.score_spark`); both take the
same inputs and return a :class:`~churnml.scoring.batch.BatchSummary`. Spark is
imported only when asked for.
"""

from __future__ import annotations

import pandas as pd

from churnml.errors import ChurnmlError
from churnml.scoring.batch import DEFAULT_CHUNK_CUSTOMERS, BatchSummary, PathLike, score_files
from churnml.scoring.bundle import ModelBundle

ENGINES: tuple[str, ...] = ("pandas", "spark")


def score_with_engine(
    engine: str,
    transactions: PathLike,
    customers: PathLike | None = None,
    events: PathLike | None = None,
    campaigns: PathLike | None = None,
    *,
    as_of: pd.Timestamp | str,
    output: PathLike,
    bundle: ModelBundle,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    workers: int | None = None,
    spark_master: str | None = None,
) -> BatchSummary:
    """Score the input files with ``engine`` (``workers`` is the pandas engine's, ``spark_master``
    Spark's)."""
    tables = (transactions, customers, events, campaigns)
    if engine == "pandas":
        return score_files(
            *tables,
            as_of=as_of,
            output=output,
            bundle=bundle,
            chunk_customers=chunk_customers,
            workers=workers,
        )
    if engine == "spark":
        from churnml.scoring.spark import score_spark

        return score_spark(
            *tables,
            as_of=as_of,
            output=output,
            bundle=bundle,
            chunk_customers=chunk_customers,
            master=spark_master,
        )
    raise ChurnmlError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
