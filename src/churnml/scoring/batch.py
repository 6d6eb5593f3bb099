"""Batch scoring on one machine, in bounded memory: the pandas engine of ``churnml score``.

:func:`score_files` scores every customer of CSV or Parquet inputs of any size
with the one :class:`~churnml.scoring.scorer.Scorer`, holding only a slice of
the customers in memory at a time:

pass 1 (validate and spill)
    Each input is streamed in record batches with pyarrow. Every batch goes
    through the contract's own validators (:mod:`churnml.data.contract`), and
    their problems are re-numbered to global, 1-based data rows, so a file with
    errors gets one :class:`~churnml.errors.DataValidationError` that lists
    every problem of every table, as :func:`churnml.data.load_tables` would. The
    validated rows are spilled to ``N`` bucket files (Arrow IPC, lz4) by a
    stable hash of ``customer_id``, so all rows of a customer, from every table,
    land in the same bucket. With several ``workers``, ranges of the inputs
    (whole Parquet row groups; a CSV file, and the customers table, is one range)
    are validated at the same time by a process pool, each range spilled to
    bucket files of its own; problems and rows are merged back in table and file
    order. The rules that span rows are then completed: a duplicated customer is
    found in its bucket (with its global row number). Nothing is written to the
    destination before this pass has succeeded.
pass 2 (score)
    One bucket of every table at a time is loaded, rows of one order that
    straddled two input batches are merged as the validator merges them, and
    :meth:`Scorer.score` scores the bucket; its rows are appended to the output.

``N`` grows with the input (about ``chunk_customers`` customers per bucket,
set before pass 1 from the customers table or first batch of transactions), so
peak memory stays flat when the input grows. The output is written to an
anonymous temporary file in the destination folder (``O_TMPFILE`` on Linux;
a hidden ``.partial`` file elsewhere) and linked into place only when complete:
a failed or killed run leaves the previous output or none, never half a file,
and a kill leaves no stray partial output behind. Spill folders of killed runs
are removed by the next run.

Customers without a purchase before ``as_of`` get no row (there is nothing to
score); :class:`BatchSummary` counts them. The order of output rows follows the
buckets, not ``customer_id``.

The parts live in their own modules: reading inputs and collecting problems in
:mod:`churnml.data.readers`, pass 1 in :mod:`churnml.scoring.validate_pass`, the
bucket files in :mod:`churnml.scoring.spill`, the output schema and writer in
:mod:`churnml.scoring.output`; this module runs the passes.

A campaign budget (``policy.budget`` / ``policy.max_contacts``, ``churnml score
--contacts N``) is a ranking over all customers, so buckets are planned without
it, into a file in the spill folder; the planned contacts of every bucket are
then ranked once (:func:`churnml.actions.budget.funded_customers`) and the
output written from that file with the unfunded contacts turned into
``no_action`` - the decisions of scoring all customers at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churnml.actions.budget import (
    CANDIDATE_COLUMNS,
    Budget,
    apply_budget,
    candidates,
    funded_customers,
)
from churnml.data.contract import (
    InputTables,
    validate_transactions,
)
from churnml.data.io import table_format
from churnml.data.readers import TABLES, InputSource, ProblemLog, schema_problems
from churnml.errors import ChurnmlError, DataValidationError
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.output import OUTPUT_SCHEMA, OutputWriter, atomic_output, output_table
from churnml.scoring.progress import BatchProgress
from churnml.scoring.scorer import Scorer
from churnml.scoring.spill import (
    ROW_COLUMN,
    SPILL_PREFIX,
    SpillStore,
    bucket_of,
    clean_stale_spills,
)
from churnml.scoring.validate_pass import validate_and_spill
from churnml.scoring.worker import worker_scorer
from churnml.system import available_cpus, worker_pool

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Default number of customers per bucket (one bucket is scored at a time).
DEFAULT_CHUNK_CUSTOMERS = 50_000
#: Default number of input rows per record batch of pass 1.
DEFAULT_BATCH_ROWS = 500_000


@dataclass(frozen=True)
class BatchSummary:
    """What a batch scoring run did.

    Attributes
    ----------
    output
        The written file (pandas engine) or folder (Spark engine; a URI string when
        it has a scheme such as ``hdfs://``).
    customers
        Rows written: one per customer with a purchase before ``as_of``.
    unscored
        Customers with transactions but no purchase before ``as_of`` (no row).
    input_rows
        Data rows read per input table.
    buckets
        Number of customer buckets scored one at a time.
    seconds
        Wall time of the whole run.
    """

    output: Path | str
    engine: str
    as_of: str
    model_name: str
    model_version: str
    customers: int
    unscored: int
    input_rows: dict[str, int] = field(default_factory=dict)
    buckets: int = 1
    seconds: float = 0.0

    @property
    def customers_per_second(self) -> float:
        return self.customers / self.seconds if self.seconds > 0 else float("nan")


# ------------------------------------------------------------------------------ scoring
def merge_split_orders(transactions: pd.DataFrame) -> pd.DataFrame:
    """Merge rows of one order that the validator saw in different input batches.

    Uses :func:`validate_transactions` on just those rows, so the rule (amounts
    summed, earliest time, first channel) is the contract's own.
    """
    if "order_id" not in transactions.columns:
        return transactions
    order = transactions["order_id"]
    if order.is_unique:  # the common case, found at a third of the cost of the check below
        return transactions
    keyed = (order.notna() & (order != "")).to_numpy()
    if not keyed.any():
        return transactions
    dup = transactions.loc[keyed, ["customer_id", "order_id"]].duplicated(keep=False).to_numpy()
    if not dup.any():
        return transactions
    rows = np.flatnonzero(keyed)[dup]
    merged = validate_transactions(transactions.iloc[rows])
    rest = np.ones(len(transactions), dtype=bool)
    rest[rows] = False
    return pd.concat([merged, transactions.loc[rest]], ignore_index=True)


def score_tables(
    tables: InputTables,
    as_of: pd.Timestamp | str,
    bundle: ModelBundle | Scorer,
    chunk_customers: int | None = None,
) -> pd.DataFrame:
    """Score validated in-memory tables with the one scorer.

    With ``chunk_customers``, customers are scored in hash buckets of about that
    size (lower peak memory for large frames; same rows, sorted by ``customer_id``);
    a campaign budget is then applied over all buckets.
    """
    scorer = bundle if isinstance(bundle, Scorer) else Scorer(bundle)
    n = tables.transactions["customer_id"].nunique()
    if chunk_customers is None or n <= chunk_customers:
        return scorer.score(tables, as_of)
    budget = scorer.bundle.budget
    if budget:
        scorer = Scorer(scorer.bundle.without_budget())
    n_buckets = math.ceil(n / chunk_customers)
    parts: dict[str, list[pd.DataFrame | None]] = {}
    for name in TABLES:
        frame = getattr(tables, name)
        if frame is None:
            parts[name] = [None] * n_buckets
            continue
        b = bucket_of(frame["customer_id"].to_numpy(dtype=object), n_buckets)
        parts[name] = [frame.loc[b == k].reset_index(drop=True) for k in range(n_buckets)]
    out = []
    for k in range(n_buckets):
        tx = parts["transactions"][k]
        if tx is None or tx.empty:
            continue
        out.append(
            scorer.score(
                InputTables(tx, parts["customers"][k], parts["events"][k], parts["campaigns"][k]),
                as_of,
            )
        )
    if not out:
        return scorer.score(InputTables(tables.transactions.iloc[:0]), as_of)
    scores = (
        pd.concat(out, ignore_index=True)
        .sort_values("customer_id", kind="stable")
        .reset_index(drop=True)
    )
    if budget:
        apply_budget(scores, funded_customers(candidates(scores), budget))
    return scores


def score_files(
    transactions: PathLike,
    customers: PathLike | None = None,
    events: PathLike | None = None,
    campaigns: PathLike | None = None,
    *,
    as_of: pd.Timestamp | str,
    output: PathLike,
    bundle: ModelBundle,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    progress: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    strict_events: bool = False,
    work_dir: PathLike | None = None,
    workers: int | None = None,
) -> BatchSummary:
    """Score every customer of CSV/Parquet inputs and write one row each to ``output``.

    Parameters
    ----------
    transactions, customers, events, campaigns
        Input files (``.csv``, ``.csv.gz``, ``.parquet`` or a folder of Parquet
        parts); only ``transactions`` is required.
    as_of
        Exclusive scoring cut-off: history strictly before it is used.
    output
        ``.parquet`` or ``.csv`` file; written only when complete.
    bundle
        The model (:func:`churnml.tracking.pyfunc.load_bundle`); its name and
        version go into every row.
    chunk_customers
        Customers per bucket (the unit held in memory while scoring).
    progress
        Show a progress bar on stderr.
    batch_rows
        Rows per record batch while validating (the unit of pass 1).
    strict_events
        Reject unknown event types.
    work_dir
        Where the bucket files go (default: the system's temporary folder).
    workers
        Processes validating ranges of the inputs and then scoring buckets in
        parallel (default: one per CPU; 1 does everything in this process). Each
        holds one record batch or one bucket at a time, so peak memory grows with
        ``workers * chunk_customers`` (and ``workers * batch_rows``).

    Returns
    -------
    BatchSummary

    Raises
    ------
    DataValidationError
        Every problem of every input (missing files or columns, bad values, with
        global row numbers), before anything is written.
    ChurnmlError
        The output cannot be written.
    """
    started = time.perf_counter()
    if chunk_customers < 1 or batch_rows < 1:
        raise ValueError("chunk_customers and batch_rows must be positive")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError("workers must be positive")
    cutoff = pd.Timestamp(as_of).normalize()
    out_path = Path(output)
    out_fmt = table_format(out_path)  # an unsupported extension fails before any work
    budget = bundle.budget
    if budget:
        bundle = bundle.without_budget()  # planned per bucket, the budget applied over all

    paths = {
        "transactions": transactions,
        "customers": customers,
        "events": events,
        "campaigns": campaigns,
    }
    log = ProblemLog()
    sources: dict[str, InputSource] = {}
    for name, p in paths.items():
        if p is None:
            continue
        try:
            src = InputSource.open(name, p)
            if src.path.resolve() == out_path.resolve():
                raise ChurnmlError(f"the output {out_path} would overwrite the {name} input")
            columns = schema_problems(name, src.columns(), strict_events)
        except DataValidationError as err:
            columns = err.problems
        for problem in columns:
            log.add(problem)
        if not columns:  # a table with missing columns is not read further, as the validators do
            sources[name] = src

    work_root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    work_root.mkdir(parents=True, exist_ok=True)
    clean_stale_spills(work_root)
    spill_dir = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=work_root))
    try:
        with BatchProgress(progress) as bar:
            spill, input_rows = validate_and_spill(
                sources, log, bar, chunk_customers, batch_rows, strict_events, spill_dir, workers
            )
            log.raise_if_any()
            scored, unscored = _pass_score(
                spill, sources, bundle, cutoff, out_path, out_fmt, bar, workers, budget
            )
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    summary = BatchSummary(
        output=out_path,
        engine="pandas",
        as_of=cutoff.date().isoformat(),
        model_name=bundle.model_name,
        model_version=str(bundle.model_version),
        customers=scored,
        unscored=unscored,
        input_rows=input_rows,
        buckets=spill.n_buckets,
        seconds=time.perf_counter() - started,
    )
    logger.info("scored %d customers in %.1f s -> %s", scored, summary.seconds, out_path)
    return summary


def _bucket_tables(spill: SpillStore, tables: Iterable[str], bucket: int) -> InputTables | None:
    """Every table's rows of one bucket, or ``None`` when it has no transactions."""
    tx = spill.read("transactions", bucket)
    if tx is None or tx.empty:
        return None
    parts: dict[str, pd.DataFrame] = {}
    for name in ("customers", "events", "campaigns"):
        if name in tables:
            frame = spill.read(name, bucket)
            frame = spill.empty(name) if frame is None else frame
            parts[name] = frame.drop(columns=[ROW_COLUMN], errors="ignore")
    return InputTables(merge_split_orders(tx), **parts)


def _score_bucket(
    scorer: Scorer, spill: SpillStore, tables: Iterable[str], bucket: int, cutoff: pd.Timestamp
) -> tuple[pd.DataFrame | None, int]:
    """Scores of one bucket and the number of its customers without a row."""
    inputs = _bucket_tables(spill, tables, bucket)
    if inputs is None:
        return None, 0
    scores = scorer.score(inputs, cutoff)
    return scores, int(inputs.transactions["customer_id"].nunique()) - len(scores)


def _worker_score(
    scorer_args: tuple[str, str, int],
    spill: SpillStore,
    tables: tuple[str, ...],
    bucket: int,
    cutoff: pd.Timestamp,
) -> tuple[str | None, int]:
    """Score one bucket in a worker; the scores go to an Arrow file next to the spill."""
    bundle_dir, version, threads = scorer_args
    scorer = worker_scorer(
        f"{bundle_dir}@{version}",
        lambda: ModelBundle.load(bundle_dir, model_version=version),
        threads,
    )
    scores, unscored = _score_bucket(scorer, spill, tables, bucket, cutoff)
    if scores is None or scores.empty:
        return None, unscored
    path = spill.root / f"scores-{bucket:05d}.arrow"
    with pa.ipc.new_file(str(path), OUTPUT_SCHEMA) as out:
        out.write_table(output_table(scores))
    return str(path), unscored


def default_workers() -> int:
    """Processes for scoring: the CPUs this process may run on."""
    return available_cpus()


def _scored_buckets(
    spill: SpillStore,
    tables: tuple[str, ...],
    bundle: ModelBundle,
    cutoff: pd.Timestamp,
    workers: int,
) -> Iterator[tuple[pd.DataFrame | pa.Table | None, int]]:
    """Scores and unscored counts of every bucket, in bucket order.

    With several workers, buckets are scored by joblib's process pool (loky: fresh
    interpreters, so no OpenMP or Arrow thread state is inherited, and a calling
    script needs no ``__main__`` guard). Workers load the bundle once from a copy
    saved in the spill folder; their scores come back through Arrow files, so only
    one bucket's scores at a time are held here.
    """
    workers = min(workers, spill.n_buckets)
    if workers <= 1:
        scorer = Scorer(bundle)
        for b in range(spill.n_buckets):
            yield _score_bucket(scorer, spill, tables, b, cutoff)
        return
    from joblib import delayed

    bundle_dir = bundle.save(spill.root / "bundle")
    scorer_args = (str(bundle_dir), str(bundle.model_version), max(1, default_workers() // workers))
    reader = spill.reader()
    results = worker_pool(workers, return_as="generator")(
        delayed(_worker_score)(scorer_args, reader, tables, b, cutoff)
        for b in range(spill.n_buckets)
    )
    for path, unscored in results:
        if path is None:
            yield None, unscored
            continue
        with pa.memory_map(path) as source:
            frame = pa.ipc.open_file(source).read_all()
        os.unlink(path)
        yield frame, unscored


def _pass_score(
    spill: SpillStore,
    sources: dict[str, InputSource],
    bundle: ModelBundle,
    cutoff: pd.Timestamp,
    out_path: Path,
    out_fmt: str,
    bar: BatchProgress,
    workers: int = 1,
    budget: Budget | None = None,
) -> tuple[int, int]:
    """Pass 2: score the buckets (in ``workers`` processes) into the output file.

    With a budget the buckets' scores go to a file in the spill folder first and
    reach the output once the budget has been applied over all of them.
    """
    task = bar.task("scoring buckets", spill.n_buckets)
    tables = tuple(name for name in TABLES if name in sources)
    buckets = _scored_buckets(spill, tables, bundle, cutoff, workers)
    try:
        with atomic_output(out_path) as fh:
            writer = OutputWriter(fh, out_fmt)
            try:
                if budget:
                    counts = _write_budgeted(buckets, writer, budget, spill.root, bar, task)
                else:
                    counts = _write_scores(buckets, writer.write, bar, task)
            except BaseException:
                with contextlib.suppress(Exception):  # the anonymous file is dropped anyway
                    writer.close()
                raise
            writer.close()
    except OSError as err:
        raise ChurnmlError(f"cannot write {out_path}: {err.strerror or err}") from None
    return counts


def _write_scores(
    buckets: Iterable[tuple[pd.DataFrame | pa.Table | None, int]],
    write: Callable[[pd.DataFrame | pa.Table], None],
    bar: BatchProgress,
    task: int,
) -> tuple[int, int]:
    """Write every bucket's scores; the numbers of scored and unscored customers."""
    scored = unscored = 0
    for scores, missing in buckets:
        if scores is not None:
            write(scores)
            scored += len(scores)
        unscored += missing
        bar.advance(task)
    return scored, unscored


_PLANNED_COLUMNS = ["intended_action", *CANDIDATE_COLUMNS]


def _write_budgeted(
    buckets: Iterable[tuple[pd.DataFrame | pa.Table | None, int]],
    writer: OutputWriter,
    budget: Budget,
    root: Path,
    bar: BatchProgress,
    task: int,
) -> tuple[int, int]:
    """Plan every bucket into ``root``, rank all planned contacts once, write the output."""
    path = root / "planned.arrow"
    planned: list[pd.DataFrame] = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, OUTPUT_SCHEMA) as spill:

        def write(scores: pd.DataFrame | pa.Table) -> None:
            table = scores if isinstance(scores, pa.Table) else output_table(scores)
            spill.write_table(table)
            planned.append(candidates(table.select(_PLANNED_COLUMNS).to_pandas()))

        counts = _write_scores(buckets, write, bar, task)
    funded = funded_customers(
        pd.concat(planned, ignore_index=True)
        if planned
        else pd.DataFrame(columns=CANDIDATE_COLUMNS),
        budget,
    )
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        apply = bar.task("applying the campaign budget", reader.num_record_batches)
        for i in range(reader.num_record_batches):
            writer.write(apply_budget(reader.get_batch(i).to_pandas(), funded))
            bar.advance(apply)
    return counts
