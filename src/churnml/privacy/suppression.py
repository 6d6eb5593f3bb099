"""The right to be forgotten: a suppression list that every part of churnml honours.

``churnml forget CUSTOMER_ID...`` (:func:`forget_customers`) deletes the customers'
rows from the published score table and records their ids in a suppression table
(``customer_suppressions``) of the same database, in one transaction. From then on:

- the policy never contacts them: :class:`~churnml.scoring.Scorer` (batch, Spark,
  HTTP) gives them ``no_action``, outside the control group, with the reason
  "suppressed: asked to be forgotten";
- publishing never writes their rows again, so ``GET /customers/{id}`` answers 404;
- training drops every row of theirs from its input tables before anything is
  computed (:func:`drop_suppressed`), so no model, metric or artefact of a later run
  is derived from their data.

The list lives next to the scores because that is the database the service and the
batch jobs already reach (``$CHURNML_SCORES_URL``, else SQLite in ``$CHURNML_HOME``);
a database without the table has an empty list. The retailer's own source files and
past MLflow runs are not touched: see the README's "Forgetting a customer".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.exc import SQLAlchemyError

from churnml.data.contract import InputTables
from churnml.database import engine_for, resolve_url, safe_url
from churnml.errors import ChurnmlError

SUPPRESSION_TABLE = "customer_suppressions"
#: Largest number of ids in one SQL ``IN`` list (SQLite allows 32,766 parameters).
IN_CHUNK = 10_000


def suppression_table(metadata: MetaData | None = None) -> Table:
    """The SQLAlchemy definition of the suppression table (one row per forgotten customer)."""
    return Table(
        SUPPRESSION_TABLE,
        metadata if metadata is not None else MetaData(),
        Column("customer_id", String(255), primary_key=True),
        Column("suppressed_at", String(32), nullable=False),
    )


#: The table the readers query: one object, so that SQLAlchemy compiles each query once
#: and reuses it (the service queries the list on every request).
_READ_TABLE = suppression_table()


@dataclass(frozen=True)
class SuppressionList:
    """Customer ids that must not be scored for contact, published or learned from."""

    ids: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, customer_id: object) -> bool:
        return str(customer_id) in self.ids

    def mask(self, customer_ids: np.ndarray | pd.Series | pd.Index) -> np.ndarray:
        """Whether each id is suppressed (one hash lookup per distinct id)."""
        values = pd.Index(np.asarray(customer_ids, dtype=object)).astype(str)
        if not self.ids:
            return np.zeros(len(values), dtype=bool)
        return np.asarray(values.isin(self.ids))

    def drop(self, frame: pd.DataFrame | None) -> pd.DataFrame | None:
        """``frame`` without the rows of suppressed customers (``customer_id`` column)."""
        if frame is None or not self.ids or frame.empty:
            return frame
        keep = ~self.mask(frame["customer_id"].to_numpy())
        return frame if keep.all() else frame.loc[keep].reset_index(drop=True)


def load_suppressions(url: str | None = None) -> SuppressionList:
    """The suppression list of the score database (empty when it has no table yet)."""
    return SuppressionList(_suppressed_ids(url, None))


def suppressed_among(customer_ids: Iterable[str], url: str | None = None) -> SuppressionList:
    """The suppressed ones among ``customer_ids``: one indexed lookup, for a request."""
    return SuppressionList(_suppressed_ids(url, sorted({str(c) for c in customer_ids})))


def _suppressed_ids(url: str | None, wanted: list[str] | None) -> frozenset[str]:
    """Every suppressed id (``wanted`` None) or those among ``wanted``, in ``IN_CHUNK`` lookups."""
    resolved = resolve_url(url)
    engine = engine_for(resolved)
    column = _READ_TABLE.c.customer_id
    if wanted == []:
        return frozenset()
    try:
        with engine.connect() as conn:  # one pooled connection for the check and the query
            if not engine.dialect.has_table(conn, SUPPRESSION_TABLE):
                return frozenset()
            if wanted is None:
                return frozenset(conn.execute(select(column)).scalars())
            found: set[str] = set()
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start : start + IN_CHUNK]
                found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
            return frozenset(found)
    except SQLAlchemyError as err:
        raise ChurnmlError(
            f"cannot read the suppression list of {safe_url(resolved)}: {str(err).splitlines()[0]}"
        ) from None


def drop_suppressed(tables: InputTables, suppressed: SuppressionList) -> InputTables:
    """Every table without the rows of suppressed customers (what training learns from)."""
    if not suppressed.ids:
        return tables
    parts: dict[str, Any] = {
        name: suppressed.drop(getattr(tables, name))
        for name in ("transactions", "customers", "events", "campaigns")
    }
    return replace(tables, **parts)


def read_ids(lines: Iterable[str]) -> list[str]:
    """Customer ids of a text file: one per line; blank lines and ``#`` comments skipped.

    A CSV with a ``customer_id`` header works too: the header line is skipped and only
    the first field of each line is read.
    """
    out: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first = line.split(",", 1)[0].strip().strip('"')
        if first == "customer_id" and not out:
            continue
        if first:
            out.append(first)
    return out
