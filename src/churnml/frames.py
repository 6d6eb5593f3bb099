"""Pandas columns read as NumPy arrays without pandas' fixed costs.

The service scores one customer per request, and there every pandas call
(``to_numeric``, selecting columns as a frame, a lookup per column) costs tens of
microseconds whatever the size of the frame. These helpers take the shortcuts
that give exactly the same numbers, and fall back to pandas otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Frames up to this many rows are read whole by :func:`number_matrix`; larger ones
#: are cheaper column by column (no copy of columns nobody asked for).
FEW_ROWS = 256


def is_plain_number(dtype: object) -> bool:
    """A NumPy boolean, integer or float dtype: ``to_numeric`` would leave its values as they are."""
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


def floats(column: pd.Series) -> np.ndarray:
    """``pd.to_numeric(column, errors="coerce")`` as floats (read-only: may be a view).

    Plain NumPy numbers and booleans convert exactly as ``to_numeric`` would, so
    they skip its parsing; only other dtypes (text, nullable, ...) go through it.
    """
    if is_plain_number(column.dtype):
        return column.to_numpy(dtype=float)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def number_matrix(frame: pd.DataFrame) -> np.ndarray | None:
    """All of a small all-number ``frame`` as one float array, else ``None``.

    Callers take their columns by position (``frame.columns.get_indexer``): for a few
    rows that beats selecting them as a frame (~0.2 ms) or one lookup per column.
    ``None`` for frames over :data:`FEW_ROWS` rows, with repeated column names or
    with any column that is not a plain number.
    """
    if len(frame) > FEW_ROWS or not frame.columns.is_unique:
        return None
    if not all(map(is_plain_number, frame.dtypes)):
        return None
    return frame.to_numpy(dtype=np.float64)
