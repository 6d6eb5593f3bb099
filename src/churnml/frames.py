"""Pandas columns read as NumPy arrays without ``pd.to_numeric``'s fixed cost.

The service scores one customer per request, and there ``to_numeric`` costs tens of
microseconds per column whatever the size of the frame. These helpers skip it where
the numbers come out the same, and call it otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
