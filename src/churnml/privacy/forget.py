"""``churnml forget``: delete customers' published scores and suppress them, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import delete, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from churnml.database import engine_for, resolve_url, safe_url
from churnml.errors import ChurnmlError
from churnml.privacy.suppression import IN_CHUNK, suppression_table
from churnml.scoring.publish import DEFAULT_TABLE, scores_table


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_customers` did, per customer."""

    #: One row per requested id: ``customer_id``, ``score_rows_deleted``, ``already_suppressed``.
    customers: pd.DataFrame

    @property
    def rows_deleted(self) -> int:
        return int(self.customers["score_rows_deleted"].sum())

    @property
    def newly_suppressed(self) -> int:
        return int((~self.customers["already_suppressed"]).sum())


def forget_customers(
    customer_ids: Collection[str], url: str | None = None, table: str = DEFAULT_TABLE
) -> ForgetReport:
    """Delete the customers' published scores and add them to the suppression list.

    Both happen in one transaction: a reader sees the customer either published and
    not suppressed, or neither. Forgetting a customer twice, or one that was never
    published, is not an error (the report says so).
    """
    ids = list(dict.fromkeys(str(c).strip() for c in customer_ids))
    if not ids or any(not c for c in ids):
        raise ChurnmlError("forget: give at least one non-empty customer id")
    resolved = resolve_url(url)
    engine = engine_for(resolved)
    suppressions = suppression_table()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    deleted = dict.fromkeys(ids, 0)
    try:
        suppressions.metadata.create_all(engine)
        has_scores = inspect(engine).has_table(table)
        scores = scores_table(table)
        with engine.begin() as conn:
            already: set[str] = set()
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start : start + IN_CHUNK]
                already.update(
                    conn.execute(
                        select(suppressions.c.customer_id).where(
                            suppressions.c.customer_id.in_(chunk)
                        )
                    )
                    .scalars()
                    .all()
                )
                if has_scores:
                    counted = conn.execute(
                        select(scores.c.customer_id).where(scores.c.customer_id.in_(chunk))
                    ).scalars()
                    for cid in counted:
                        deleted[cid] += 1
                    conn.execute(delete(scores).where(scores.c.customer_id.in_(chunk)))
            new = [{"customer_id": c, "suppressed_at": now} for c in ids if c not in already]
            if new:
                conn.execute(suppressions.insert(), new)
    except SQLAlchemyError as err:
        raise ChurnmlError(
            f"cannot forget customers in {safe_url(resolved)}: {str(err).splitlines()[0]}"
        ) from None
    return ForgetReport(
        pd.DataFrame(
            {
                "customer_id": ids,
                "score_rows_deleted": [deleted[c] for c in ids],
                "already_suppressed": [c in already for c in ids],
            }
        )
    )
