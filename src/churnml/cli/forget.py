"""``churnml forget``: the customer's right to be forgotten."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnml.cli._app import _friendly, _table, app, out
from churnml.errors import ChurnmlError


@app.command()
@_friendly
def forget(
    customer_ids: Annotated[
        list[str] | None, typer.Argument(help="Customer ids to forget.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Text file of ids, one per line (or a CSV with a customer_id column)."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the score database (default $CHURNML_SCORES_URL or SQLite in $CHURNML_HOME)."
        ),
    ] = None,
) -> None:
    """Delete customers' published scores and put them on the suppression list.

    From then on the scorer never contacts them (no_action), publishing leaves them
    out (GET /customers/{id} answers 404) and training drops their rows.
    """
    from churnml.privacy.forget import forget_customers
    from churnml.privacy.suppression import read_ids

    ids = list(customer_ids or [])
    if file is not None:
        try:
            ids += read_ids(file.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as e:
            raise ChurnmlError(f"cannot read {file}: {e}") from None
    if not ids:
        raise ChurnmlError("give customer ids as arguments or with --file")
    report = forget_customers(ids, url=url)
    out.print(
        _table(
            [
                {
                    "customer_id": r.customer_id,
                    "score rows deleted": int(r.score_rows_deleted),
                    "suppressed": "already" if r.already_suppressed else "now",
                }
                for r in report.customers.itertuples(index=False)
            ][:50],
            title=f"Forgot {len(report.customers):,} customers",
        )
    )
    out.print(
        f"Deleted {report.rows_deleted:,} published score rows; "
        f"{report.newly_suppressed:,} customers added to the suppression list "
        f"({len(report.customers) - report.newly_suppressed:,} were already on it)."
    )
