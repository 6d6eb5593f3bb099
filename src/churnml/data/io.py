"""Reading input tables and writing outputs without ever leaving half a file.

Reading: CSV or Parquet, chosen by extension. Identifier and date columns are
read as text so that leading zeros survive and offsets are interpreted by
:func:`churnml.data.coerce.parse_dates`, not by the file reader.

Writing: every output goes to a temporary file in the destination folder and is
renamed into place only once it is complete, so a crash or a kill leaves either
the old file or no file — never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from churnml.errors import DataValidationError, Problem

#: Columns read as text, never as numbers or dates (ids keep leading zeros; dates keep offsets).
TEXT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "order_id",
    "campaign_id",
    "action",
    "channel",
    "event_type",
    "order_date",
    "signup_date",
    "event_date",
    "sent_date",
)
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def table_format(path: str | os.PathLike[str]) -> str:
    """Return ``"csv"`` or ``"parquet"`` for a path, or raise a readable error."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes[-2:-1] == [".csv"] and suffixes[-1] in {".gz", ".zip", ".bz2", ".xz"}:
        return "csv"
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None and p.is_dir():
        return "parquet"  # a folder of Parquet parts, as Spark writes them
    if fmt is None:
        raise DataValidationError(
            [Problem(p.name, "*", "unsupported file type (use .csv or .parquet)", 1)]
        )
    return fmt


def read_table(path: str | os.PathLike[str], table: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet table; turn every reader failure into a DataValidationError."""
    p = Path(path)
    if not p.exists():
        raise DataValidationError([Problem(table, "*", f"file not found: {p}", 1)])
    fmt = table_format(p)
    try:
        if fmt == "parquet":
            return pd.read_parquet(p)
        if p.stat().st_size == 0:
            raise DataValidationError([Problem(table, "*", f"{p.name} is empty", 1)])
        types = {c: pa.string() for c in TEXT_COLUMNS}
        return pv.read_csv(p, convert_options=pv.ConvertOptions(column_types=types)).to_pandas()
    except (pd.errors.ParserError, pa.ArrowInvalid, UnicodeDecodeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataValidationError(
            [Problem(table, "*", f"cannot read {p.name}: {first}", 1)]
        ) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], row_group_size: int = 100_000
) -> None:
    """Write ``frame`` to ``path`` (format from the extension) atomically."""
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False, row_group_size=row_group_size)
        else:
            frame.to_csv(tmp, index=False)
