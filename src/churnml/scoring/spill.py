"""The spill store of the pandas batch engine: validated rows in hash buckets on disk.

Rows are spilled to Arrow IPC files (lz4) by a stable hash of ``customer_id``
(:func:`bucket_of`), so that every row of a customer, from every table, lands in
the same bucket; one bucket of every table is read back at a time. Spill folders
of killed runs are removed by the next run (:func:`clean_stale_spills`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from churnml.data.contract import (
    CONSENT_COLUMNS,
)

PathLike = str | os.PathLike[str]


#: At most this many buckets (open spill files per table); beyond it buckets grow.
MAX_BUCKETS = 1024

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
ROW_COLUMN = "_row"  # global 1-based row number, kept for the customers table's duplicate check


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
        types[ROW_COLUMN] = pa.int64()
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


SPILL_PREFIX = "churnml-spill-"
_SPILL_RE = re.compile(rf"^{SPILL_PREFIX}(\d+)-")


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
