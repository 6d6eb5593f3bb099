"""Reading input files in record batches, and collecting their problems.

:class:`InputSource` streams a CSV or Parquet table (or a range of its row
groups) with pyarrow; :class:`ProblemLog` gathers the contract's problems of
every batch with global, 1-based row numbers, so that a file with errors gets
one :class:`~churnml.errors.DataValidationError` listing every problem, as
:func:`churnml.data.load_tables` would.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from churnml.data.contract import (
    validate_campaigns,
    validate_customers,
    validate_events,
    validate_transactions,
)
from churnml.data.io import TEXT_COLUMNS, table_format
from churnml.errors import DataValidationError, Problem

PathLike = str | os.PathLike[str]


#: Input tables in the order they are read and reported.
TABLES: tuple[str, ...] = ("transactions", "customers", "events", "campaigns")

_MAX_EXAMPLES = 5
EMPTY_TABLE = "the table is empty"

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
        return [p for p in err.problems if p.message != EMPTY_TABLE]
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
