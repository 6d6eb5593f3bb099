"""The ``churnml`` command line: thin wrappers over the library.

Every command turns a :class:`~churnml.errors.ChurnmlError` (bad data, unknown
model, bad config) into a readable message on stderr and a non-zero exit code;
tracebacks are for bugs only.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from churnml.errors import ChurnmlError, DataValidationError

app = typer.Typer(
    help="Churn risk, customer lifetime value and win-back next-best-action.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

PathOpt = Annotated[Path | None, typer.Option(help="CSV or Parquet file.")]


def _friendly(fn: F) -> F:
    """Report user errors without a traceback: exit 2 for bad data, 1 otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DataValidationError as e:
            err.print(f"[bold red]Invalid input[/]: {e}", highlight=False)
            raise typer.Exit(2) from None
        except ChurnmlError as e:
            err.print(f"[bold red]Error[/]: {e}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted; nothing was written.[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _table(rows: list[dict[str, object]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    if rows:
        for key in rows[0]:
            table.add_column(str(key))
        for row in rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    return table


@app.command()
@_friendly
def simulate(
    customers: Annotated[int, typer.Option("--customers", "-n", min=1, help="Number of customers.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("data/simulated"),
    as_of: Annotated[dt.datetime | None, typer.Option(help="Scoring cut-off of the truth table.", formats=["%Y-%m-%d"])] = None,
) -> None:
    """Simulate an omnichannel retailer: transactions, customers, events, campaigns and truth."""
    from churnml.datasets import simulate as run

    kwargs: dict[str, Any] = {}
    if as_of is not None:
        kwargs["as_of"] = as_of.date()
    with out.status(f"Simulating {customers:,} customers..."):
        data = run(customers, seed=seed, **kwargs)
        paths = data.write(out_dir)
    out.print(_table([{"file": str(p), "rows": len(getattr(data, k, []) if k != "params" else [])}
                      for k, p in paths.items()], title=f"Simulated data (as of {data.as_of.date()})"))


@app.command()
@_friendly
def validate(
    transactions: Annotated[Path, typer.Option(help="Transactions (CSV or Parquet).")],
    customers: PathOpt = None,
    events: PathOpt = None,
    campaigns: PathOpt = None,
    strict: Annotated[bool, typer.Option(help="Reject unknown event types.")] = False,
) -> None:
    """Check input files against the data contract and print a report."""
    from churnml.data import describe_tables, load_tables

    tables = load_tables(transactions, customers, events, campaigns, strict_events=strict)
    out.print(_table(describe_tables(tables), title="Valid input"))


def main() -> None:
    """Entry point of the ``churnml`` script."""
    try:
        app()
    except BrokenPipeError:  # e.g. `churnml ... | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
