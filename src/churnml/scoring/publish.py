"""Publishing batch scores to a SQL table that the HTTP service reads.

``churnml score --publish [URL]`` writes the scored rows into a table
(``customer_scores`` by default) of any SQLAlchemy database: an embedded SQLite
file at ``$CHURNML_HOME/scores.db`` unless a URL such as
``postgresql+psycopg://user@host/db`` is given. The service answers
``GET /customers/{customer_id}`` with :func:`latest_score`.

- One row per customer, model version and ``as_of``, with every column of
  :data:`~churnml.scoring.scorer.OUTPUT_COLUMNS` plus ``published_at``.
- Publishing the same model name, version and ``as_of`` again replaces those rows
  in one transaction: a reader sees the old rows or the new ones, never a mix.
- ``customer_id`` is indexed, so a lookup is one index probe.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from churnml.data.io import table_format
from churnml.database import engine_for, resolve_url, safe_url
from churnml.errors import ChurnmlError
from churnml.privacy.suppression import load_suppressions
from churnml.scoring.output import BOOL_OUTPUTS, FLOAT_OUTPUTS
from churnml.scoring.scorer import OUTPUT_COLUMNS

DEFAULT_TABLE = "customer_scores"
PUBLISHED_AT = "published_at"

_FLOAT_COLUMNS = FLOAT_OUTPUTS
_TEXT_COLUMNS = frozenset(("churn_reasons", "action_reason"))
_KEY = ("model_name", "model_version", "as_of")
_REQUIRED = frozenset(("customer_id", *_KEY))
_INSERT_ROWS = 10_000


def scores_table(name: str = DEFAULT_TABLE, metadata: MetaData | None = None) -> Table:
    """The SQLAlchemy definition of the scores table."""
    columns: list[Column[Any]] = []
    for c in OUTPUT_COLUMNS:
        if c in _FLOAT_COLUMNS:
            columns.append(Column(c, Float(precision=53), nullable=True))
        elif c in BOOL_OUTPUTS:
            columns.append(Column(c, Boolean, nullable=False))
        elif c in _TEXT_COLUMNS:
            columns.append(Column(c, Text, nullable=True))
        else:
            columns.append(Column(c, String(255), nullable=c not in _REQUIRED))
    columns.append(Column(PUBLISHED_AT, String(32), nullable=False))
    return Table(
        name,
        metadata if metadata is not None else MetaData(),
        *columns,
        Index(f"ix_{name}_customer_id", "customer_id"),
        Index(f"ix_{name}_version", *_KEY),
    )


def _ensure_table(engine: Engine, name: str) -> Table:
    table = scores_table(name)
    existing = inspect(engine)
    if existing.has_table(name):
        have = {c["name"] for c in existing.get_columns(name)}
        missing = [c for c in table.columns if c.name not in have]
        if any(not c.nullable for c in missing):
            raise ChurnmlError(
                f"table {name} exists without the columns {', '.join(c.name for c in missing)}: "
                f"drop it or publish to another table"
            )
        if missing:  # output columns added by a later churnml version: older rows hold NULL
            _add_columns(engine, table, missing)
    else:
        table.metadata.create_all(engine)
    return table


def _add_columns(engine: Engine, table: Table, columns: list[Column[Any]]) -> None:
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        for c in columns:
            kind = c.type.compile(dialect=engine.dialect)
            conn.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(c.name)} {kind}"))


def _records(frame: pd.DataFrame, published_at: str) -> list[dict[str, Any]]:
    out = frame[list(OUTPUT_COLUMNS)].copy()
    for c in _FLOAT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for c in BOOL_OUTPUTS:
        out[c] = out[c].astype(bool)
    for c in OUTPUT_COLUMNS:
        if c not in _FLOAT_COLUMNS and c not in BOOL_OUTPUTS:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
            out[c] = out[c].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    out[PUBLISHED_AT] = published_at
    records = out.to_dict(orient="records")
    for r in records:  # NaN is not a SQL value
        for c in _FLOAT_COLUMNS:
            v = r[c]
            if v != v:
                r[c] = None
    return records


def publish_scores(
    frame: pd.DataFrame | Iterable[pd.DataFrame],
    url: str | None = None,
    table: str = DEFAULT_TABLE,
) -> int:
    """Write scored rows to a SQL table, replacing those of the same model version and as_of.

    Parameters
    ----------
    frame
        Output of :class:`~churnml.scoring.scorer.Scorer` (or the batch file),
        or an iterable of such frames (e.g. record batches of a large file).
        Every chunk must carry the columns of ``OUTPUT_COLUMNS``.
    url
        SQLAlchemy URL; default ``$CHURNML_SCORES_URL``, else
        ``sqlite:///$CHURNML_HOME/scores.db``.
    table
        Table name; created (with an index on ``customer_id``) if missing.

    Returns
    -------
    int
        Rows written.

    The rows of every (model_name, model_version, as_of) seen in the input are
    deleted and the new rows inserted in one transaction. Rows of customers on
    the suppression list (``churnml forget``) are left out.
    """
    chunks: Iterator[pd.DataFrame] = (
        iter([frame]) if isinstance(frame, pd.DataFrame) else iter(frame)
    )
    resolved = resolve_url(url)
    engine = engine_for(resolved)
    published_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = 0
    suppressed = load_suppressions(resolved)
    try:
        target = _ensure_table(engine, table)
        with engine.begin() as conn:
            cleared: set[tuple[str, str, str]] = set()
            for chunk in chunks:
                missing = [c for c in OUTPUT_COLUMNS if c not in chunk.columns]
                if missing:
                    raise ChurnmlError(
                        f"cannot publish: the scores lack the columns {', '.join(missing)}"
                    )
                chunk = suppressed.drop(chunk)  # a forgotten customer is never published again
                if chunk is None or chunk.empty:
                    continue
                keys = (
                    chunk[list(_KEY)]
                    .astype(str)
                    .drop_duplicates()
                    .itertuples(index=False, name=None)
                )
                for key in keys:
                    if key not in cleared:
                        conn.execute(
                            delete(target).where(
                                *(target.c[k] == v for k, v in zip(_KEY, key, strict=True))
                            )
                        )
                        cleared.add(key)
                records = _records(chunk, published_at)
                for start in range(0, len(records), _INSERT_ROWS):
                    conn.execute(target.insert(), records[start : start + _INSERT_ROWS])
                written += len(records)
    except SQLAlchemyError as err:
        raise ChurnmlError(
            f"cannot publish scores to {safe_url(resolved)}: {str(err).splitlines()[0]}"
        ) from None
    return written


def publish_file(
    path: str | os.PathLike[str],
    url: str | None = None,
    table: str = DEFAULT_TABLE,
    batch_rows: int = 100_000,
) -> int:
    """:func:`publish_scores` of a batch output file (Parquet file/folder or CSV), in chunks."""
    p = Path(path)
    if table_format(p) == "parquet":
        files = (
            sorted(f for f in p.rglob("*.parquet") if not f.name.startswith((".", "_")))
            if p.is_dir()
            else [p]
        )
        chunks: Iterable[pd.DataFrame] = (
            b.to_pandas()
            for f in files
            for b in pq.ParquetFile(f).iter_batches(batch_size=batch_rows)
        )
    else:
        text = {c: str for c in OUTPUT_COLUMNS if c not in _FLOAT_COLUMNS and c not in BOOL_OUTPUTS}
        chunks = pd.read_csv(
            p,
            dtype=text,
            keep_default_na=False,
            na_values={c: [""] for c in _FLOAT_COLUMNS},
            chunksize=batch_rows,
        )
    return publish_scores(chunks, url=url, table=table)


def latest_score(
    customer_id: str, url: str | None = None, table: str = DEFAULT_TABLE
) -> dict[str, Any] | None:
    """The most recent published scores of one customer, or ``None``.

    "Most recent" is the latest ``as_of``, then the latest publication. The
    values are plain Python: the columns of ``OUTPUT_COLUMNS`` (``churn_reasons``
    is the JSON text of the batch output) and ``published_at``. Returns ``None``
    when the customer (or the table) is unknown.
    """
    engine = engine_for(resolve_url(url))
    target = scores_table(table)
    query = (
        select(target)
        .where(target.c.customer_id == str(customer_id))
        .order_by(target.c.as_of.desc(), target.c[PUBLISHED_AT].desc())
        .limit(1)
    )
    try:
        with engine.connect() as conn:
            row = conn.execute(query).mappings().first()
    except SQLAlchemyError as err:
        if not inspect(engine).has_table(table):
            return None
        raise ChurnmlError(f"cannot read scores: {str(err).splitlines()[0]}") from None
    if row is None:
        return None
    out = dict(row)
    for c in BOOL_OUTPUTS:
        out[c] = bool(out[c])
    return out
