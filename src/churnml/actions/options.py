"""What the policy chooses from: every contact action's value, cost and eligibility.

:class:`ContactOptions` is :meth:`NextBestActionPolicy.options
<churnml.actions.policy.NextBestActionPolicy.options>` output, also read by the
audience curve, the offline evaluation and the policy study; the block codes say
why an action is ineligible; :class:`AlignedUplift` reads an uplift table in the
row order of the scores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.actions.columns import SOURCE_COLUMN
from churnml.actions.history import _all_strings, _strings
from churnml.frames import floats

_YES = ("true", "t", "yes", "y", "1", "1.0")

# Why an action is ineligible, in the order the checks are reported.
(
    BLOCK_OK,
    BLOCK_SEGMENT,
    BLOCK_CONSENT,
    BLOCK_RECENT,
    BLOCK_COOLDOWN,
    BLOCK_CAP,
    BLOCK_UNKNOWN,
    BLOCK_HARMFUL,
    BLOCK_SUPPRESSED,
) = 0, 1, 2, 3, 4, 5, 6, 7, 8
BLOCK_TEXT = {
    BLOCK_SUPPRESSED: "suppressed (asked to be forgotten)",
    BLOCK_HARMFUL: "measured to hurt",
    BLOCK_SEGMENT: "segment/tier",
    BLOCK_CONSENT: "no consent",
    BLOCK_RECENT: "recent purchase",
    BLOCK_COOLDOWN: "cool-down",
    BLOCK_CAP: "contact cap",
    BLOCK_UNKNOWN: "no uplift estimate",
}


def consent_flags(values: pd.Series) -> np.ndarray:
    """Consent flags read strictly: only true booleans or explicit yes-values count.

    A guardrail must not turn the string ``"false"`` (truthy in Python) or a
    missing value into consent.
    """
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "b":
        return values.to_numpy()  # plain booleans cannot be missing
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values):  # 0/1 flags, as the feature builder stores them
        return values.to_numpy(dtype=float) == 1.0
    text = values.astype("string").str.strip().str.lower()
    return text.isin(_YES).fillna(False).to_numpy(dtype=bool)


def is_member(codes: np.ndarray, uniques: np.ndarray, allowed: Iterable[str]) -> np.ndarray:
    """Whether each value is in ``allowed``, given ``pd.factorize`` codes and uniques.

    Membership is decided once per distinct value (a handful of segments or
    tiers), then spread to every customer by their codes.
    """
    allowed = frozenset(allowed)
    lookup = np.fromiter((u in allowed for u in uniques.tolist()), dtype=bool, count=len(uniques))
    return lookup[codes]


class AlignedUplift:
    """The uplift table read in the row order of ``scores``, one column at a time.

    Rows are matched by ``customer_id`` when the table has that column (customers
    without a row get no uplift: NaN and source ``"prior"``), else by position
    after checking that both tables share their index. Only the columns of
    catalogue actions are ever converted, and no realigned copy of the table is
    built.
    """

    def __init__(self, scores: pd.DataFrame, ids: np.ndarray, uplift: pd.DataFrame | None):
        self.frame = uplift
        #: Uplift row of each customer (-1: none), or None when already in scores' order.
        self.rows: np.ndarray | None = None
        self.columns: frozenset[object] = frozenset()
        if uplift is None:
            return
        if "customer_id" in uplift.columns:
            keys = pd.Index(_strings(uplift["customer_id"]))
            if keys.has_duplicates:
                raise ValueError("uplift has duplicate customer_id rows")
            self.rows = keys.get_indexer(ids)
            self.columns = frozenset(uplift.columns) - {"customer_id"}
        elif len(uplift) != len(scores) or not uplift.index.equals(scores.index):
            raise ValueError("uplift must have a customer_id column or the same index as scores")
        else:
            self.columns = frozenset(uplift.columns)

    def _align(self, values: np.ndarray, missing: float | str) -> np.ndarray:
        if self.rows is None:
            return values
        # Row -1 (a customer without uplift) picks the ``missing`` appended at the end.
        return np.append(values, np.array([missing], dtype=values.dtype))[self.rows]

    def values(self, action_id: str) -> np.ndarray:
        """The action's uplift per customer as floats (text coerced, missing = NaN)."""
        assert self.frame is not None
        return self._align(floats(self.frame[action_id]), np.nan)

    def sources(self, n: int) -> np.ndarray:
        """``uplift_source`` per customer, ``"prior"`` where the table says nothing."""
        if self.frame is None or SOURCE_COLUMN not in self.columns:
            return np.full(n, "prior", dtype=object)
        column = self.frame[SOURCE_COLUMN]
        # fillna and astype(str) act value by value, so they may run before aligning.
        values = column.to_numpy()
        if not _all_strings(values):
            values = column.fillna("prior").astype(str).to_numpy()
        return self._align(values, "prior").astype(object)


@dataclass(frozen=True, eq=False)
class ContactOptions:
    """Every contact action for every customer, as :meth:`NextBestActionPolicy.options` sees it.

    ``value`` is the expected incremental value (``-inf`` where a guardrail blocks
    the action), ``block`` why it is blocked (0 = eligible), ``uplift`` and
    ``source`` the effect used and where it comes from, ``revenue`` the learned
    incremental revenue (NaN where none was learned), ``suppressed`` the customers
    on the suppression list (every action blocked); rows follow ``scores``,
    columns ``actions``.
    """

    customer_ids: np.ndarray
    actions: list[str]
    value: np.ndarray
    cost: np.ndarray
    uplift: np.ndarray
    block: np.ndarray
    source: np.ndarray
    worth: np.ndarray
    recency: np.ndarray
    revenue: np.ndarray
    suppressed: np.ndarray

    @property
    def eligible(self) -> np.ndarray:
        """``(customers, actions)``: whether each action passes every guardrail."""
        return np.asarray(self.block == BLOCK_OK)
