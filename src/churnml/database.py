"""The SQL database of the published scores and the suppression list.

``churnml score --publish`` writes the score table there, the HTTP service reads it,
and ``churnml forget`` records suppressed customers in it: any SQLAlchemy URL
(``$CHURNML_SCORES_URL``), by default an embedded SQLite file in ``$CHURNML_HOME``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def default_url() -> str:
    """``sqlite:///$CHURNML_HOME/scores.db``."""
    from churnml.tracking import churnml_home

    return f"sqlite:///{churnml_home() / 'scores.db'}"


def resolve_url(url: str | None) -> str:
    """``url``, else ``$CHURNML_SCORES_URL``, else :func:`default_url`."""
    return url or os.environ.get("CHURNML_SCORES_URL") or default_url()


@functools.lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (connection pool) per URL, created on first use."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers are not blocked by a publish
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def safe_url(url: str) -> str:
    """A URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only for a message
        return "the database"
