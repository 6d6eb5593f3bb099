"""Progress bars of the batch engine (rich, on stderr), or nothing."""

from __future__ import annotations

from typing import Any


class BatchProgress:
    """A rich progress bar on stderr (or nothing)."""

    def __init__(self, enabled: bool):
        self._bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description:<24}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(self, description: str, total: float | None) -> int:
        return int(self._bar.add_task(description, total=total)) if self._bar is not None else -1

    def advance(self, task: int, amount: float = 1, total: float | None = None) -> None:
        if self._bar is not None:
            self._bar.update(
                task, advance=amount, **({"total": total} if total is not None else {})
            )
