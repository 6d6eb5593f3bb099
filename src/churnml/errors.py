"""Exceptions a user of churnml can act on.

Every error that is the caller's fault (bad data, unknown customer, bad config)
derives from :class:`ChurnmlError`, so that the command line and the HTTP service
can turn it into a readable message instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ChurnmlError(Exception):
    """Base class for errors caused by input, configuration or state, not by a bug."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: which table and column, what is wrong, where."""

    table: str
    column: str
    message: str
    count: int = 1
    rows: tuple[int, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        if not self.rows:
            return f"{self.table}.{self.column}: {self.message}"
        more = ", ..." if self.count > len(self.rows) else ""
        plural = "s" if self.count != 1 else ""
        where = f"{', '.join(map(str, self.rows))}{more}"
        return f"{self.table}.{self.column}: {self.message} [{self.count:,} row{plural}: {where}]"

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "field": self.column,
            "message": self.message,
            "count": self.count,
            "example_rows": list(self.rows),
        }


class DataValidationError(ChurnmlError):
    """Raised once per validation pass, listing every problem found.

    Collecting all problems (rather than failing on the first) lets a data
    engineer fix a file in one round trip.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} data problem(s) found:\n{lines}")

    def to_dict(self) -> dict[str, object]:
        return {"error": "invalid_data", "problems": [p.to_dict() for p in self.problems]}


class ModelNotFoundError(ChurnmlError):
    """No registered model matches the requested name, alias or version."""


class ConfigError(ChurnmlError):
    """A configuration file or value is invalid."""
