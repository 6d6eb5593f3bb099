"""Read and validate the input tables of a job in one call."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from churnml.data.contract import InputTables, validate_tables
from churnml.data.io import read_table
from churnml.errors import DataValidationError, Problem

PathLike = str | os.PathLike[str]


def load_tables(
    transactions: PathLike,
    customers: PathLike | None = None,
    events: PathLike | None = None,
    campaigns: PathLike | None = None,
    strict_events: bool = False,
) -> InputTables:
    """Read every given file and validate them together.

    Read errors and contract violations of all tables are reported in one
    :class:`~churnml.errors.DataValidationError`.
    """
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame | None] = {}
    for name, path in {
        "transactions": transactions,
        "customers": customers,
        "events": events,
        "campaigns": campaigns,
    }.items():
        if path is None:
            frames[name] = None
            continue
        try:
            frames[name] = read_table(path, table=name)
        except DataValidationError as err:
            problems.extend(err.problems)
    if problems:
        raise DataValidationError(problems)
    assert frames["transactions"] is not None
    return validate_tables(
        frames["transactions"],
        frames["customers"],
        frames["events"],
        frames["campaigns"],
        strict_events=strict_events,
    )


TABLE_NAMES: tuple[str, ...] = ("transactions", "customers", "events", "campaigns")


def folder_tables(folder: PathLike) -> dict[str, Path]:
    """The input files of a folder: ``transactions`` and whichever others exist.

    Looks for ``<table>.parquet``, then ``<table>.csv`` (what ``churnml simulate`` and
    ``churnml demo`` write); ``transactions`` is required. The result is what
    :func:`load_tables` and ``Config.data`` take.
    """
    root = Path(folder)
    found: dict[str, Path] = {}
    for name in TABLE_NAMES:
        for suffix in (".parquet", ".csv"):
            candidate = root / f"{name}{suffix}"
            if candidate.exists():
                found[name] = candidate
                break
    if "transactions" not in found:
        raise DataValidationError(
            [
                Problem(
                    "transactions", "file", f"no transactions.parquet or transactions.csv in {root}"
                )
            ]
        )
    return found
