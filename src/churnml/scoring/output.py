"""The batch output: its Arrow schema, the atomic output file and the writer.

Every engine writes the columns of :data:`~churnml.scoring.scorer.OUTPUT_COLUMNS`
with these types; the pandas engine writes them through :class:`OutputWriter`
into :func:`atomic_output`, so a failed or killed run leaves the previous output
or none, never half a file.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnml.data.io import atomic_path
from churnml.scoring.scorer import OUTPUT_COLUMNS

PathLike = str | os.PathLike[str]


#: Output columns that are numbers; ``control_group`` is boolean and the others are text.
FLOAT_OUTPUTS: frozenset[str] = frozenset(
    # the LTV outputs and the churn probability, then the policy's money columns
    OUTPUT_COLUMNS[OUTPUT_COLUMNS.index("p_alive") : OUTPUT_COLUMNS.index("churn_reasons")]
) | {"expected_incremental_value", "intended_value", "intended_cost"}
BOOL_OUTPUTS: frozenset[str] = frozenset(("control_group",))


def output_type(column: str) -> pa.DataType:
    """Arrow type of an output column."""
    if column in FLOAT_OUTPUTS:
        return pa.float64()
    return pa.bool_() if column in BOOL_OUTPUTS else pa.string()


#: Arrow schema of the batch output (the columns of :data:`OUTPUT_COLUMNS`).
OUTPUT_SCHEMA = pa.schema([pa.field(c, output_type(c)) for c in OUTPUT_COLUMNS])
#: Output columns Parquet stores with a dictionary: the text columns with few distinct
#: values. Ids and reason codes are unique per customer: a dictionary would not pay.
DICTIONARY_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in OUTPUT_SCHEMA
    if pa.types.is_string(f.type) and f.name not in ("customer_id", "churn_reasons")
)


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


def output_table(scores: pd.DataFrame) -> pa.Table:
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
            table = scores if isinstance(scores, pa.Table) else output_table(scores)
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
