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

A campaign budget (``policy.budget`` / ``policy.max_contacts``, ``churnml score
--contacts N``) is a ranking over all customers, so buckets are planned without
it, into a file in the spill folder; the planned contacts of every bucket are
then ranked once (:func:`churnml.actions.budget.funded_customers`) and the
output written from that file with the unfunded contacts turned into
``no_action`` - the decisions of scoring all customers at once.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from churnml.actions.budget import (
    CANDIDATE_COLUMNS,
    Budget,
    apply_budget,
    candidates,
    funded_customers,
)
from churnml.data.contract import (
    CONSENT_COLUMNS,
    InputTables,
    validate_campaigns,
    validate_customers,
    validate_events,
    validate_transactions,
)
from churnml.data.io import TEXT_COLUMNS, atomic_path, table_format
from churnml.errors import ChurnmlError, DataValidationError, Problem
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer
from churnml.system import available_cpus, worker_pool

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Input tables in the order they are read and reported.
TABLES: tuple[str, ...] = ("transactions", "customers", "events", "campaigns")

#: Default number of customers per bucket (one bucket is scored at a time).
DEFAULT_CHUNK_CUSTOMERS = 50_000
#: Default number of input rows per record batch of pass 1.
DEFAULT_BATCH_ROWS = 500_000
#: At most this many buckets (open spill files per table); beyond it buckets grow.
MAX_BUCKETS = 1024

_MAX_EXAMPLES = 5
_EMPTY_TABLE = "the table is empty"

_TEXT: frozenset[str] = frozenset(TEXT_COLUMNS)

#: Strings pyarrow's CSV reader takes for null in an inferred numeric column.
_NULL_STRINGS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)

_TS = pa.timestamp("ns")
#: Columns of each validated table that scoring uses, with their spill types. Free
#: attribute columns of the customers table are not read by any model and are dropped.
SPILL_TYPES: dict[str, dict[str, pa.DataType]] = {
    "transactions": {
        "customer_id": pa.string(),
        "order_date": _TS,
        "amount": pa.float64(),
        "channel": pa.string(),
        "order_id": pa.string(),
    },
    "customers": {
        "customer_id": pa.string(),
        "signup_date": _TS,
        **{c: pa.bool_() for c in CONSENT_COLUMNS},
    },
    "events": {"customer_id": pa.string(), "event_date": _TS, "event_type": pa.string()},
    "campaigns": {
        "customer_id": pa.string(),
        "campaign_id": pa.string(),
        "sent_date": _TS,
        "action": pa.string(),
        "treated": pa.bool_(),
        "converted": pa.bool_(),
        "revenue": pa.float64(),
        "channel": pa.string(),
        "segment": pa.string(),
    },
}
_ROW = "_row"  # global 1-based row number, kept for the customers table's duplicate check

#: Output columns that are numbers; ``control_group`` is boolean and the others are text.
FLOAT_OUTPUTS: frozenset[str] = frozenset(
    (
        "p_alive",
        "expected_purchases",
        "p_no_purchase",
        "expected_order_value",
        "clv",
        "expected_days_to_next_purchase",
        "value_if_retained",
        "churn_probability",
        "expected_incremental_value",
        "intended_value",
        "intended_cost",
    )
)
BOOL_OUTPUTS: frozenset[str] = frozenset(("control_group",))


def output_type(column: str) -> pa.DataType:
    """Arrow type of an output column."""
    if column in FLOAT_OUTPUTS:
        return pa.float64()
    return pa.bool_() if column in BOOL_OUTPUTS else pa.string()


#: Arrow schema of the batch output (the columns of :data:`OUTPUT_COLUMNS`).
OUTPUT_SCHEMA = pa.schema([pa.field(c, output_type(c)) for c in OUTPUT_COLUMNS])
#: Output columns Parquet stores with a dictionary: the text columns with few distinct
#: values. Ids and reason codes are unique per customer, where trying a dictionary
#: first cost a third of the writing time for nothing.
DICTIONARY_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in OUTPUT_SCHEMA
    if pa.types.is_string(f.type) and f.name not in ("customer_id", "churn_reasons")
)

Validator = Callable[[pd.DataFrame], pd.DataFrame]


def validator_for(table: str, strict_events: bool = False) -> Validator:
    """The contract validator of ``table``."""
    if table == "events":
        return lambda frame: validate_events(frame, strict=strict_events)
    return {
        "transactions": validate_transactions,
        "customers": validate_customers,
        "campaigns": validate_campaigns,
    }[table]


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


# ------------------------------------------------------------------------------ problems
class ProblemLog:
    """Problems of many batches merged into one report with global row numbers.

    Problems with the same table, column and message are added up; the example
    rows are the smallest row numbers over all batches.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], tuple[int, list[int]]] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, problem: Problem, rows: Iterable[int] | None = None) -> None:
        """Add one problem; ``rows`` replaces its (batch-local) example rows."""
        key = (problem.table, problem.column, problem.message)
        examples = sorted(int(r) for r in (problem.rows if rows is None else rows))
        if key not in self._items:
            self._items[key] = (problem.count, examples[:_MAX_EXAMPLES])
            return
        count, old = self._items[key]
        if not problem.rows and not old:  # a table-level problem: report it once
            return
        self._items[key] = (count + problem.count, sorted({*old, *examples})[:_MAX_EXAMPLES])

    def add_shifted(self, problems: Iterable[Problem], offset: int) -> None:
        """Add problems found in a batch whose first data row is global row ``offset + 1``."""
        for p in problems:
            self.add(p, [r + offset for r in p.rows])

    def problems(self) -> list[Problem]:
        order = {t: i for i, t in enumerate(TABLES)}
        out = [Problem(t, c, m, n, tuple(rows)) for (t, c, m), (n, rows) in self._items.items()]
        return sorted(out, key=lambda p: order.get(p.table, len(order)))

    def raise_if_any(self) -> None:
        if self._items:
            raise DataValidationError(self.problems())


def schema_problems(table: str, columns: list[str], strict_events: bool = False) -> list[Problem]:
    """The contract's column problems of a table with ``columns`` (emptiness aside)."""
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    try:
        validator_for(table, strict_events)(empty)
    except DataValidationError as err:
        return [p for p in err.problems if p.message != _EMPTY_TABLE]
    return []


# ------------------------------------------------------------------------------ reading
def parse_csv_numbers(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A text column as float64 when every value is a number or a null marker, else unchanged.

    This is what pyarrow's CSV type inference does for non-text columns (numbers
    parsed exactly, ``""``/``NA``/``null``/... as null), applied to each batch or
    group, so that a bad value in a later block gives a readable validation
    problem instead of a reader crash, and both engines parse numbers alike.
    """
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        return array
    nulls = pc.is_in(array, value_set=pa.array(_NULL_STRINGS))
    cleaned = pc.if_else(nulls, pa.scalar(None, array.type), array)
    try:
        return pc.cast(cleaned, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return array


def _parse_csv_table(table: pa.Table) -> pa.Table:
    for i, name in enumerate(table.column_names):
        if name not in _TEXT:
            table = table.set_column(i, name, parse_csv_numbers(table.column(i)))
    return table


def parse_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`parse_csv_numbers` on every non-text column of a frame of CSV text."""
    out = frame.copy()
    for name in out.columns:
        if name in _TEXT or out[name].dtype != object:
            continue
        try:
            arr = pa.array(out[name].to_numpy(), type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        parsed = parse_csv_numbers(arr)
        if parsed is not arr:
            out[name] = parsed.to_numpy(zero_copy_only=False)
    return out


def _reader_problem(table: str, path: Path, err: BaseException) -> Problem:
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return Problem(table, "*", f"cannot read {path.name}: {first}", 1)


@dataclass(frozen=True)
class InputSource:
    """One input table on disk: a CSV file (optionally compressed) or Parquet file(s).

    A range of a Parquet input (:meth:`ranges`) reads only ``row_groups`` of its
    ``files`` (one tuple per file) and numbers its rows from ``first_row``.
    """

    table: str
    path: Path
    fmt: str
    files: tuple[Path, ...]
    row_groups: tuple[tuple[int, ...], ...] | None = None
    first_row: int = 0

    @classmethod
    def open(cls, table: str, path: PathLike) -> InputSource:
        """Check that the input exists and has a supported format, or raise a problem."""
        p = Path(path)
        if not p.exists():
            raise DataValidationError([Problem(table, "*", f"file not found: {p}", 1)])
        try:
            fmt = table_format(p)
        except DataValidationError:
            raise DataValidationError(
                [
                    Problem(
                        table, "*", f"unsupported file type of {p.name} (use .csv or .parquet)", 1
                    )
                ]
            ) from None
        if fmt == "parquet" and p.is_dir():
            files = tuple(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file()
                    and not f.name.startswith((".", "_"))
                    and f.suffix in (".parquet", ".pq")
                )
            )
            if not files:
                raise DataValidationError(
                    [Problem(table, "*", f"no Parquet files in folder {p}", 1)]
                )
        else:
            files = (p,)
        if fmt == "csv" and p.stat().st_size == 0:
            raise DataValidationError([Problem(table, "*", f"{p.name} is empty", 1)])
        return cls(table, p, fmt, files)

    def columns(self) -> list[str]:
        try:
            if self.fmt == "parquet":
                return [
                    c
                    for c in pq.read_schema(self.files[0]).names
                    if not c.startswith("__index_level_")
                ]
            with self._csv_reader(column_types=None, block_size=1 << 20) as reader:
                return list(reader.schema.names)
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as err:
            raise DataValidationError([_reader_problem(self.table, self.path, err)]) from None

    def ranges(self, rows: int) -> list[InputSource]:
        """The input as consecutive ranges of whole Parquet row groups, about ``rows`` rows each.

        Each range is validated by one task of a parallel pass 1 and knows its first
        global row, so its problems get the row numbers of a whole read. A CSV file
        (whose rows cannot be found without reading it) is one range.
        """
        if self.fmt != "parquet":
            return [self]
        try:
            metas = [pq.ParquetFile(f).metadata for f in self.files]
        except (pa.ArrowInvalid, OSError):  # reported by the task reading it whole
            return [self]
        out: list[InputSource] = []
        picked: dict[int, list[int]] = {}  # file index -> row groups of the open range
        first = taken = 0
        for i, meta in enumerate(metas):
            for g in range(meta.num_row_groups):
                picked.setdefault(i, []).append(g)
                taken += meta.row_group(g).num_rows
                if taken - first >= rows:
                    out.append(self._range(picked, first))
                    picked, first = {}, taken
        if picked:
            out.append(self._range(picked, first))
        return out or [self]

    def _range(self, row_groups: dict[int, list[int]], first_row: int) -> InputSource:
        return replace(
            self,
            files=tuple(self.files[i] for i in row_groups),
            row_groups=tuple(tuple(groups) for groups in row_groups.values()),
            first_row=first_row,
        )

    def count_rows(self) -> int:
        """Data rows: exact for Parquet (those of its row groups for a range of them),
        lines minus the header for CSV."""
        if self.fmt == "parquet":
            if not self.row_groups:
                return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
            total = 0
            for f, groups in zip(self.files, self.row_groups, strict=True):
                meta = pq.ParquetFile(f).metadata
                total += sum(meta.row_group(g).num_rows for g in groups)
            return total
        lines, last = 0, b"\n"
        with pa.input_stream(str(self.path), compression="detect") as stream:
            while chunk := stream.read(1 << 24):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        if last != b"\n":
            lines += 1
        return max(lines - 1, 0)

    @contextlib.contextmanager
    def _csv_reader(
        self,
        column_types: Mapping[str, pa.DataType] | None,
        block_size: int,
        include_columns: list[str] | None = None,
    ) -> Iterator[Any]:
        stream = pa.input_stream(str(self.path), compression="detect")
        try:
            reader = pv.open_csv(
                stream,
                read_options=pv.ReadOptions(block_size=block_size),
                convert_options=pv.ConvertOptions(
                    column_types=column_types or {}, include_columns=include_columns
                ),
            )
            yield reader
        finally:
            stream.close()

    def batches(
        self, batch_rows: int, columns: list[str] | None = None
    ) -> Generator[pd.DataFrame, None, None]:
        """The table (or only ``columns``) in record batches of about ``batch_rows`` rows.

        CSV columns are read as text; non-text columns are then parsed as numbers
        by :func:`parse_csv_numbers`. Reader failures raise a DataValidationError.
        """
        try:
            if self.fmt == "parquet":
                groups = self.row_groups or (None,) * len(self.files)
                for f, row_groups in zip(self.files, groups, strict=True):
                    parts = pq.ParquetFile(f).iter_batches(
                        batch_size=batch_rows, row_groups=row_groups, columns=columns
                    )
                    for batch in parts:
                        # A str object per cell, not one per distinct text: half the
                        # conversion time, and the validators look at every cell anyway.
                        frame = pa.Table.from_batches([batch]).to_pandas(deduplicate_objects=False)
                        yield frame.reset_index(drop=True)
                return
            names = columns or self.columns()
            block = int(min(max(batch_rows * 64, 1 << 20), 1 << 30))
            types = {c: pa.string() for c in names}
            with self._csv_reader(types, block, columns) as reader:
                for batch in reader:
                    if batch.num_rows:
                        table = _parse_csv_table(pa.Table.from_batches([batch]))
                        yield table.to_pandas(deduplicate_objects=False)
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as err:
            raise DataValidationError([_reader_problem(self.table, self.path, err)]) from None


# ------------------------------------------------------------------------------ buckets
def bucket_of(customer_ids: np.ndarray | pd.Series, n_buckets: int) -> np.ndarray:
    """Bucket number in ``[0, n_buckets)`` per customer id: a stable 64-bit hash.

    ``pandas.util.hash_array`` (SipHash with a fixed key) gives the same bucket
    in every process and run; ids are compared as strings.
    """
    ids = np.asarray(customer_ids, dtype=object)
    if n_buckets <= 1:
        return np.zeros(len(ids), dtype=np.int64)
    return (pd.util.hash_array(ids, categorize=False) % np.uint64(n_buckets)).astype(np.int64)


def _to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    """The scoring columns of a validated frame with fixed spill types."""
    types = dict(SPILL_TYPES[table])
    if table == "customers":
        types[_ROW] = pa.int64()
    arrays, names = [], []
    for name, typ in types.items():
        if name not in frame.columns:
            continue
        values = frame[name].to_numpy()
        try:
            arrays.append(pa.array(values, type=typ, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. numbers in a free text column
            text = pd.Series(values, dtype=object)
            text = text.where(text.isna(), text.astype(str))
            arrays.append(pa.array(text.to_numpy(), type=typ, from_pandas=True))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


class SpillStore:
    """Validated rows spilled to Arrow IPC files per table, bucket and part.

    A part is a range of an input spilled by one process of a parallel pass 1
    (part 0 is the whole input otherwise): every file has one writer, and a
    bucket is read back with its parts in file order.
    """

    def __init__(self, root: Path, n_buckets: int, part: int = 0):
        self.root = root
        self.n_buckets = n_buckets
        self.part = part  # the part this store writes
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._schemas: dict[str, pa.Schema] = {}
        self._parts: dict[str, int] = {}  # parts per table, when more than one
        self._options = pa.ipc.IpcWriteOptions(
            compression="lz4" if pa.Codec.is_available("lz4") else None
        )

    def _path(self, table: str, bucket: int, part: int) -> Path:
        return self.root / f"{table}-{bucket:05d}-{part:04d}.arrows"

    def write(self, table: str, frame: pd.DataFrame) -> None:
        """Append a validated batch, split by bucket (row order kept within a bucket)."""
        if frame.empty:
            return
        buckets = bucket_of(frame["customer_id"].to_numpy(dtype=object), self.n_buckets)
        arrow = _to_arrow(frame, table)
        schema = self._schemas.setdefault(table, arrow.schema)
        if arrow.schema != schema:
            arrow = arrow.select(schema.names).cast(schema)
        order = np.argsort(buckets, kind="stable")
        arrow = arrow.take(pa.array(order))
        counts = np.bincount(buckets, minlength=self.n_buckets)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for b in np.flatnonzero(counts).tolist():
            writer = self._writers.get(b)
            if writer is None:
                path = self._path(table, b, self.part)
                writer = pa.ipc.new_stream(str(path), schema, options=self._options)
                self._writers[b] = writer
            writer.write_table(arrow.slice(int(starts[b]), int(counts[b])))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def read(self, table: str, bucket: int) -> pd.DataFrame | None:
        """The rows of one bucket, parts in order (``None`` when the table has none there)."""
        pieces = []
        for part in range(self._parts.get(table, 1)):
            path = self._path(table, bucket, part)
            if path.exists():
                with pa.ipc.open_stream(str(path)) as reader:
                    pieces.append(reader.read_all())
        if not pieces:
            return None
        rows = pa.concat_tables(pieces, promote_options="default")
        return rows.to_pandas(deduplicate_objects=False)

    def schema(self, table: str) -> pa.Schema | None:
        """The Arrow schema of ``table``'s spill files (``None`` before its first rows)."""
        return self._schemas.get(table)

    def for_part(self, part: int) -> SpillStore:
        """An empty store with the same buckets that writes ``part`` (in another process)."""
        return SpillStore(self.root, self.n_buckets, part)

    def add_part(self, table: str, part: int, schema: pa.Schema | None) -> None:
        """Record a part of ``table`` that another store wrote (and its schema, if any)."""
        self._parts[table] = max(self._parts.get(table, 1), part + 1)
        if schema is not None:
            self._schemas.setdefault(table, schema)

    def reader(self) -> SpillStore:
        """A read-only view of the closed store that can be sent to a worker process."""
        view = SpillStore(self.root, self.n_buckets)
        view._schemas = dict(self._schemas)
        view._parts = dict(self._parts)
        return view

    def __getstate__(self) -> dict[str, Any]:
        if self._writers:
            raise RuntimeError("close the SpillStore before sending it to another process")
        return {
            "root": self.root,
            "n_buckets": self.n_buckets,
            "part": self.part,
            "schemas": self._schemas,
            "parts": self._parts,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], state["n_buckets"], state["part"])  # type: ignore[misc]
        self._schemas = state["schemas"]
        self._parts = state["parts"]

    def empty(self, table: str) -> pd.DataFrame:
        """An empty frame with the spilled columns of ``table``."""
        schema = self._schemas.get(table)
        if schema is None:
            schema = pa.schema(list(SPILL_TYPES[table].items()))
        return schema.empty_table().to_pandas()


_SPILL_PREFIX = "churnml-spill-"
_SPILL_RE = re.compile(rf"^{_SPILL_PREFIX}(\d+)-")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_spills(work_dir: PathLike | None = None) -> list[Path]:
    """Remove spill folders left by killed runs (their process no longer exists)."""
    root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for d in root.iterdir():
        m = _SPILL_RE.match(d.name)
        if m and d.is_dir() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


# ------------------------------------------------------------------------------ output
@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` only when the block completes.

    On Linux the file is created with ``O_TMPFILE`` (no name until it is linked
    into place), so even ``SIGKILL`` leaves nothing behind. Where that is not
    supported, :func:`churnml.data.atomic_path` (a hidden ``.partial`` file) is used.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    flag = getattr(os, "O_TMPFILE", 0)
    fd = -1
    if flag:
        try:
            fd = os.open(dest.parent, flag | os.O_WRONLY, 0o644)
        except OSError:
            fd = -1
    if fd < 0:
        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
            yield fh
        return
    fh = os.fdopen(fd, "wb")
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        link = dest.parent / f".{dest.name}.{os.getpid()}.{time.monotonic_ns()}.link"
        # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N gives the anonymous file a name;
        # a src_dir_fd makes CPython call linkat rather than link.
        proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(str(fh.fileno()), link, src_dir_fd=proc, follow_symlinks=True)
        finally:
            os.close(proc)
        try:
            os.replace(link, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
    finally:
        fh.close()


def _output_table(scores: pd.DataFrame) -> pa.Table:
    """Scorer rows as an Arrow table with the output schema."""
    return pa.Table.from_pandas(
        scores[list(OUTPUT_COLUMNS)], schema=OUTPUT_SCHEMA, preserve_index=False
    )


class OutputWriter:
    """Appends scored frames to a Parquet or CSV file opened by :func:`atomic_output`."""

    def __init__(self, fh: IO[bytes], fmt: str, row_group_size: int = 100_000):
        self.fmt = fmt
        self.rows = 0
        self._fh = fh
        self._row_group_size = row_group_size
        self._parquet: pq.ParquetWriter | None = None
        self._text: io.TextIOWrapper | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(
                fh, OUTPUT_SCHEMA, compression="snappy", use_dictionary=list(DICTIONARY_COLUMNS)
            )
        else:
            self._text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
            self._text.write(",".join(OUTPUT_COLUMNS) + "\n")

    def write(self, scores: pd.DataFrame | pa.Table) -> None:
        """Append scorer rows: a frame, or an Arrow table with ``OUTPUT_SCHEMA`` (from a worker)."""
        if len(scores) == 0:
            return
        if self._parquet is not None:
            table = scores if isinstance(scores, pa.Table) else _output_table(scores)
            self._parquet.write_table(table, row_group_size=self._row_group_size)
        else:
            assert self._text is not None
            frame = scores.to_pandas() if isinstance(scores, pa.Table) else scores
            frame[list(OUTPUT_COLUMNS)].to_csv(self._text, header=False, index=False)
        self.rows += len(scores)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.flush()
            self._text.detach()


# ------------------------------------------------------------------------------ progress
class _Progress:
    """A rich progress bar on stderr (or nothing)."""

    def __init__(self, enabled: bool):
        self._bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description:<24}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(self, description: str, total: float | None) -> int:
        return int(self._bar.add_task(description, total=total)) if self._bar is not None else -1

    def advance(self, task: int, amount: float = 1, total: float | None = None) -> None:
        if self._bar is not None:
            self._bar.update(
                task, advance=amount, **({"total": total} if total is not None else {})
            )


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


def _estimate_customers(first_batch: pd.DataFrame, total_rows: int) -> int:
    distinct = max(first_batch["customer_id"].nunique(), 1)
    rows_per_customer = max(len(first_batch) / distinct, 1.0)
    return math.ceil(total_rows / rows_per_customer)


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
    spill_dir = Path(tempfile.mkdtemp(prefix=f"{_SPILL_PREFIX}{os.getpid()}-", dir=work_root))
    try:
        with _Progress(progress) as bar:
            spill, input_rows = _pass_validate(
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


def _bucket_count(
    sources: Mapping[str, InputSource], chunk_customers: int, batch_rows: int, workers: int = 1
) -> int:
    """Buckets of about ``chunk_customers`` customers, decided before any table is spilled.

    Every process spilling a table must hash ids into the same number of buckets,
    so the count is fixed here: from the customers table's rows, or an estimate
    from the first batch of transactions when that is larger (a customers table
    may list only some of the customers). With several workers the count is a
    multiple of them, so that the last round of buckets keeps every worker busy
    (21 buckets on 2 workers left one core idle for the last bucket's ~2 s).
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
                    clean = clean.assign(**{_ROW: np.arange(offset + 1, offset + len(raw) + 1)})
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
    bar: _Progress,
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
    bar: _Progress,
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
    # another finishes a big range (~1 s of 10 at 1M customers on two workers).
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
        log.add(Problem(name, "*", _EMPTY_TABLE))
    return rows


def _pass_validate(
    sources: dict[str, InputSource],
    log: ProblemLog,
    bar: _Progress,
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
        all_rows = frame[_ROW].to_numpy()
        rows = all_rows[duplicated].tolist()
        try:
            validate_customers(frame[["customer_id"]])
        except DataValidationError as err:
            for p in err.problems:
                log.add(p, rows if p.count == len(rows) else [int(all_rows[r - 1]) for r in p.rows])


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
            parts[name] = frame.drop(columns=[_ROW], errors="ignore")
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


@functools.lru_cache(maxsize=1)
def _worker_scorer(bundle_dir: str, model_version: str, threads: int) -> Scorer:
    """The scorer of a worker process, loaded once per bundle (worker processes are reused)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # OpenMP of every booster (uplift models included)
    bundle = ModelBundle.load(bundle_dir, model_version=model_version)
    if hasattr(bundle.churn, "n_jobs"):
        bundle.churn.n_jobs = threads
    return Scorer(bundle)


def _worker_score(
    scorer_args: tuple[str, str, int],
    spill: SpillStore,
    tables: tuple[str, ...],
    bucket: int,
    cutoff: pd.Timestamp,
) -> tuple[str | None, int]:
    """Score one bucket in a worker; the scores go to an Arrow file next to the spill."""
    scores, unscored = _score_bucket(_worker_scorer(*scorer_args), spill, tables, bucket, cutoff)
    if scores is None or scores.empty:
        return None, unscored
    path = spill.root / f"scores-{bucket:05d}.arrow"
    with pa.ipc.new_file(str(path), OUTPUT_SCHEMA) as out:
        out.write_table(_output_table(scores))
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
    bar: _Progress,
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
    bar: _Progress,
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
    bar: _Progress,
    task: int,
) -> tuple[int, int]:
    """Plan every bucket into ``root``, rank all planned contacts once, write the output."""
    path = root / "planned.arrow"
    planned: list[pd.DataFrame] = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, OUTPUT_SCHEMA) as spill:

        def write(scores: pd.DataFrame | pa.Table) -> None:
            table = scores if isinstance(scores, pa.Table) else _output_table(scores)
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
