"""Pass 1 of the pandas batch engine: validate every input and spill it into buckets.

Each input is streamed in record batches; every batch goes through the contract's
own validators and its problems are re-numbered to global rows. With several
workers, ranges of the inputs (whole Parquet row groups; a CSV file, and the
customers table, is one range) are validated at the same time by a process pool,
each range spilled to bucket files of its own; problems and rows are merged back
in table and file order. The rules that span rows are then completed: a
duplicated customer is found in its bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churnml.data.contract import (
    validate_customers,
)
from churnml.data.readers import EMPTY_TABLE, TABLES, InputSource, ProblemLog, validator_for
from churnml.errors import DataValidationError, Problem
from churnml.scoring.progress import BatchProgress
from churnml.scoring.spill import MAX_BUCKETS, ROW_COLUMN, SpillStore
from churnml.system import worker_pool


def _estimate_customers(first_batch: pd.DataFrame, total_rows: int) -> int:
    distinct = max(first_batch["customer_id"].nunique(), 1)
    rows_per_customer = max(len(first_batch) / distinct, 1.0)
    return math.ceil(total_rows / rows_per_customer)


def _bucket_count(
    sources: Mapping[str, InputSource], chunk_customers: int, batch_rows: int, workers: int = 1
) -> int:
    """Buckets of about ``chunk_customers`` customers, decided before any table is spilled.

    Every process spilling a table must hash ids into the same number of buckets,
    so the count is fixed here: from the customers table's rows, or an estimate
    from the first batch of transactions when that is larger (a customers table
    may list only some of the customers). With several workers the count is a
    multiple of them, so that the last round of buckets keeps every worker busy.
    """
    estimate = sources["customers"].count_rows() if "customers" in sources else 0
    tx = sources.get("transactions")
    if tx is not None:
        batches = tx.batches(batch_rows, columns=["customer_id"])
        try:
            first = next(batches, None)
        except DataValidationError:  # pass 1 reports the reader failure
            first = None
        finally:
            batches.close()
        if first is not None:
            estimate = max(estimate, _estimate_customers(first, tx.count_rows()))
    buckets = max(math.ceil(estimate / chunk_customers), 1)
    if workers > 1 and buckets > 1:
        buckets = math.ceil(buckets / workers) * workers
    return min(buckets, MAX_BUCKETS)


@dataclass(frozen=True)
class _RangeResult:
    """What pass 1 found in a table or a range of it (sent back by a worker in parallel mode)."""

    rows: int
    problems: list[Problem]  # with global row numbers
    schema: pa.Schema | None  # of its spill files; None when nothing was spilled
    complete: bool  # False when the reader failed (a sequential read stops there)


def _validate_table(
    src: InputSource,
    spill: SpillStore | None,
    batch_rows: int,
    strict_events: bool,
    advance: Callable[[int, int], None] | None = None,
) -> _RangeResult:
    """Validate a table, or a range of it, batch by batch and spill its clean rows.

    Problems are re-numbered to global rows. Rows are spilled only while there is
    no problem (and never without a ``spill``): a run with problems scores
    nothing. In parallel mode this runs in a worker process, so it changes nothing
    but its spill files; ``advance(rows, rows_so_far)`` follows the batches.
    """
    name = src.table
    log = ProblemLog()
    validate = validator_for(name, strict_events)
    offset = src.first_row
    complete = True
    try:
        for raw in src.batches(batch_rows):
            try:
                clean = validate(raw)
            except DataValidationError as err:
                log.add_shifted(err.problems, offset)
                clean = None
            if clean is not None and spill is not None and not log:
                if name == "customers":  # global rows, for the duplicate check across buckets
                    clean = clean.assign(
                        **{ROW_COLUMN: np.arange(offset + 1, offset + len(raw) + 1)}
                    )
                spill.write(name, clean)
            offset += len(raw)
            if advance is not None:
                advance(len(raw), offset)
    except DataValidationError as err:  # the reader failed: nothing more to read here
        complete = False
        for problem in err.problems:
            log.add(problem)
    finally:
        if spill is not None:
            spill.close()
    schema = spill.schema(name) if spill is not None else None
    return _RangeResult(offset - src.first_row, log.problems(), schema, complete)


def _validate_here(
    src: InputSource,
    spill: SpillStore | None,
    bar: BatchProgress,
    batch_rows: int,
    strict_events: bool,
) -> _RangeResult:
    """One table validated in this process, the progress bar following its batches."""
    total = src.count_rows()
    task = bar.task(f"validating {src.table}", total)

    def advance(rows: int, seen: int) -> None:
        bar.advance(task, rows, total=max(total, seen))

    return _validate_table(src, spill, batch_rows, strict_events, advance)


def _input_ranges(
    sources: Mapping[str, InputSource], workers: int, batch_rows: int
) -> dict[str, list[InputSource]]:
    """The tasks of a parallel pass 1: the inputs cut into about four ranges per worker.

    Transactions are most of the rows: validated whole, they would keep one worker
    busy long after the other tables are done. Ranges of whole Parquet row groups
    (at least ``batch_rows`` rows; a CSV file is one range) share them out evenly.
    The customers table is read whole: its duplicate rule spans rows, so where its
    batches start decides which duplicates the validator reports.
    """
    parquet_rows = sum(src.count_rows() for src in sources.values() if src.fmt == "parquet")
    rows = max(batch_rows, parquet_rows // (4 * workers))
    return {
        name: [src] if name == "customers" else src.ranges(rows) for name, src in sources.items()
    }


def _validate_in_workers(
    sources: Mapping[str, InputSource],
    ranges: dict[str, list[InputSource]],
    spill: SpillStore | None,
    bar: BatchProgress,
    batch_rows: int,
    strict_events: bool,
    workers: int,
) -> dict[str, list[_RangeResult]]:
    """Every range validated by one task of joblib's process pool (loky, as in pass 2).

    Range ``k`` of a table is spilled as part ``k`` (:meth:`SpillStore.for_part`), so
    every spill file has one writer. Returns each table's results in file order;
    the progress bar advances as they come in.
    """
    from joblib import delayed

    jobs = [(name, part, src) for name, parts in ranges.items() for part, src in enumerate(parts)]
    # Largest first: the last tasks to start are small, so no worker idles while
    # another finishes a big range.
    # Parquet row counts are free; a CSV file (one range) is not counted up front.
    jobs.sort(key=lambda job: -job[2].count_rows() if job[2].fmt == "parquet" else 0)
    # A CSV file is one range, whose rows are its total.
    totals = {
        name: src.count_rows() if src.fmt == "parquet" else None for name, src in sources.items()
    }
    tasks = {name: bar.task(f"validating {name}", totals[name]) for name in ranges}
    done = worker_pool(min(workers, len(jobs)), batch_size=1, return_as="generator")(
        delayed(_validate_table)(
            src, spill.for_part(part) if spill is not None else None, batch_rows, strict_events
        )
        for _, part, src in jobs
    )
    by_part: dict[str, dict[int, _RangeResult]] = {name: {} for name in ranges}
    for (name, part, _), result in zip(jobs, done, strict=True):
        bar.advance(tasks[name], result.rows, total=totals[name] or result.rows)
        by_part[name][part] = result
    return {name: [parts[k] for k in sorted(parts)] for name, parts in by_part.items()}


def _add_table(name: str, parts: list[_RangeResult], spill: SpillStore, log: ProblemLog) -> int:
    """Add a table's results (its ranges in file order) to the report and the store; its rows.

    A range whose reader failed ends the table, as the failure ends a sequential read.
    """
    rows = 0
    for part, result in enumerate(parts):
        for problem in result.problems:
            log.add(problem)
        spill.add_part(name, part, result.schema)
        rows += result.rows
        if not result.complete:
            break
    if rows == 0 and not any(p.table == name for p in log.problems()):
        log.add(Problem(name, "*", EMPTY_TABLE))
    return rows


def validate_and_spill(
    sources: dict[str, InputSource],
    log: ProblemLog,
    bar: BatchProgress,
    chunk_customers: int,
    batch_rows: int,
    strict_events: bool,
    spill_dir: Path,
    workers: int = 1,
) -> tuple[SpillStore, dict[str, int]]:
    """Pass 1: validate every table (problems with global rows) and spill the clean rows.

    With several workers, ranges of the inputs are validated concurrently; their
    problems and spill files are merged back in table and file order, so the
    report and the spilled rows are those of the sequential pass. Nothing is
    spilled once there is a problem.
    """
    spill = SpillStore(spill_dir, _bucket_count(sources, chunk_customers, batch_rows, workers))
    ranges = _input_ranges(sources, workers, batch_rows) if workers > 1 else {}
    results: dict[str, list[_RangeResult]] = {}
    if sum(len(parts) for parts in ranges.values()) > 1:
        keep = spill if not log else None
        results = _validate_in_workers(
            sources, ranges, keep, bar, batch_rows, strict_events, workers
        )
    input_rows: dict[str, int] = {}
    for name in [name for name in TABLES if name in sources]:  # problems in table order
        if results:
            parts = results[name]
        else:  # in this process, a table after a failed one is validated but not spilled
            keep = spill if not log else None
            parts = [_validate_here(sources[name], keep, bar, batch_rows, strict_events)]
        input_rows[name] = _add_table(name, parts, spill, log)
    if "customers" in sources and not log:
        _check_duplicate_customers(spill, log)
    return spill, input_rows


def _check_duplicate_customers(spill: SpillStore, log: ProblemLog) -> None:
    """The customers table's one rule across rows, checked bucket by bucket.

    All rows of an id share a bucket, in file order, so the validator run on a
    bucket finds every duplicate; its rows are mapped back to global row numbers.
    """
    for b in range(spill.n_buckets):
        frame = spill.read("customers", b)
        if frame is None:
            continue
        duplicated = frame["customer_id"].duplicated(keep="first").to_numpy()
        if not duplicated.any():
            continue
        all_rows = frame[ROW_COLUMN].to_numpy()
        rows = all_rows[duplicated].tolist()
        try:
            validate_customers(frame[["customer_id"]])
        except DataValidationError as err:
            for p in err.problems:
                log.add(p, rows if p.count == len(rows) else [int(all_rows[r - 1]) for r in p.rows])
