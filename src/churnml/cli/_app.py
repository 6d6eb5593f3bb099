"""The typer application, its consoles and what every command shares.

Every command turns a :class:`~churnml.errors.ChurnmlError` (bad data, unknown
model, bad config) into a readable message on stderr and a non-zero exit code;
tracebacks are for bugs only.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from churnml.errors import ChurnmlError, DataValidationError
from churnml.system import Terminated, interruption, raise_on_sigterm

if TYPE_CHECKING:
    from churnml.config import Config


app = typer.Typer(
    help="Churn risk, customer lifetime value and win-back next-best-action.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# Logs and CI are not terminals: give tables room instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 140)


err = Console(stderr=True, soft_wrap=True)


F = TypeVar("F", bound=Callable[..., Any])


PathOpt = Annotated[Path | None, typer.Option(help="CSV or Parquet file.")]


# Kept as text so that URIs such as hdfs://namenode/x survive (Path would fold the //).
StrPathOpt = Annotated[str | None, typer.Option(help="CSV or Parquet file or URI.")]


DateOpt = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="Cut-off date (exclusive), YYYY-MM-DD."),
]


ModelOpt = Annotated[
    str | None, typer.Option(help="MLflow model URI (default models:/<name>@<alias>).")
]


def _friendly(fn: F) -> F:
    """Report user errors without a traceback: exit 2 for bad data, 1 otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as e:
            # An interrupt first, even one that a library turned into its own error.
            stop = interruption(e)
            if isinstance(stop, Terminated):
                err.print("[yellow]Terminated (SIGTERM); nothing was written.[/]")
                raise typer.Exit(143) from None
            if stop is not None:
                err.print("[yellow]Interrupted; nothing was written.[/]")
                raise typer.Exit(130) from None
            if isinstance(e, DataValidationError):
                err.print(f"[bold red]Invalid input[/]: {e}", highlight=False)
                raise typer.Exit(2) from None
            if isinstance(e, ChurnmlError):
                err.print(f"[bold red]Error[/]: {e}", highlight=False)
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


def _frame_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """A numeric frame as a rich table (index first, floats to 4 decimals, NaN as '-')."""
    rows = [
        {
            frame.index.name or "": str(idx),
            **{str(c): "-" if pd.isna(v) else f"{v:.4f}" for c, v in row.items()},
        }
        for idx, row in frame.iterrows()
    ]
    return _table(rows, title=title)


def _table(rows: Sequence[Mapping[str, object]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    if rows:
        for key in rows[0]:
            table.add_column(str(key))
        for row in rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    return table


def _config(config: Path | None, **sections: dict[str, Any]) -> Config:
    from churnml.config import Config

    base = Config.from_yaml(config) if config else Config()
    return base.with_overrides(**sections)


def _model_uri(model_uri: str | None, alias: str, name: str = "churnml") -> str:
    return model_uri or f"models:/{name}@{alias}"


def _not_interrupt_noise(record: logging.LogRecord) -> bool:
    """False for a library's traceback of an interrupted call (Ctrl-C, SIGTERM).

    py4j logs every call that the interrupt cut short, with its traceback, on the root
    logger or its own, at ERROR level; the command's own message already says what
    happened and what was (not) written.
    """
    if record.msg == "KeyboardInterrupt while sending command.":
        return False
    return interruption(record.exc_info[1] if record.exc_info else None) is None


def main() -> None:
    """Entry point of the ``churnml`` script."""
    import os

    from rich.logging import RichHandler

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(_not_interrupt_noise)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
    for noisy in ("mlflow", "alembic", "py4j"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    raise_on_sigterm()  # a scheduler's SIGTERM cleans up like Ctrl-C (exit 143)
    try:
        app()
    except BrokenPipeError:  # e.g. `churnml ... | head`
        sys.exit(0)
