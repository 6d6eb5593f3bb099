"""Deterministic control group: who is held out of a campaign to measure its lift.

A customer is in the control group when a keyed hash of their id, read as a
number in [0, 1), falls below the configured share. The hash is BLAKE2b (a
standard, platform-independent algorithm) keyed with the campaign salt, so

- the same customer gets the same answer in every run, process and machine,
  and in batch as over HTTP, without any stored list;
- changing the salt per campaign draws a fresh, independent control group, so
  the same customers are not held out of every campaign;
- membership does not depend on any score, so treated and control customers are
  comparable and the difference in their outcomes is the campaign's effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import cast

import numpy as np
import pandas as pd


def _key(salt: str) -> bytes:
    # BLAKE2b keys are at most 64 bytes; hashing the salt first accepts any salt.
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=32).digest()


def _as_strings(customer_ids: Iterable[object]) -> list[str]:
    """The ids as ``pandas.Series.astype(str)`` spells them (``123`` -> ``"123"``).

    Ids that already are strings are returned as they are (``astype(str)`` leaves
    them untouched too): building a Series costs more than hashing one id, and
    the HTTP service assigns one customer per request.
    """
    if isinstance(customer_ids, pd.Series | np.ndarray):
        values = customer_ids.to_numpy() if isinstance(customer_ids, pd.Series) else customer_ids
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
            return cast(list[str], values.tolist())
    if isinstance(customer_ids, pd.Series):
        return customer_ids.astype(str).tolist()
    # list(), not ndarray.tolist(): numpy scalars must keep their own str() (float32 etc.).
    items = list(customer_ids)
    if all(isinstance(s, str) for s in items):
        return cast(list[str], items)
    return pd.Series(items, dtype=object).astype(str).tolist()


def _hash(ids: list[str], salt: str) -> np.ndarray:
    """:func:`control_hash` of ids that already are strings."""
    # Keying BLAKE2b compresses one block of key material; copying a keyed state is
    # cheaper than keying afresh for every id and gives the very same digests.
    keyed = hashlib.blake2b(digest_size=8, key=_key(salt))

    def digest(customer_id: str) -> bytes:
        h = keyed.copy()
        h.update(customer_id.encode("utf-8"))
        return h.digest()

    raw = np.frombuffer(b"".join(map(digest, ids)), dtype="<u8")
    # Keep the top 53 bits so that the float is exact and strictly below 1.
    return (raw >> np.uint64(11)).astype(np.float64) / float(2**53)


def control_hash(customer_ids: Iterable[object], salt: str) -> np.ndarray:
    """Uniform number in [0, 1) per customer id, fixed by the id and the salt.

    Ids are compared as strings, so ``123`` and ``"123"`` get the same value.
    About 0.5 s for a million ids, a few microseconds for one.
    """
    return _hash(_as_strings(customer_ids), salt)


def assign_control(customer_ids: Iterable[object], salt: str, share: float) -> np.ndarray:
    """Boolean control flag per customer id: true for a ``share`` of ids, chosen by hash.

    Parameters
    ----------
    customer_ids
        Ids of the campaign population (any iterable; converted to strings).
    salt
        Campaign salt (``PolicyConfig.campaign_salt``); change it per campaign.
    share
        Target share of the control group in [0, 1).
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"control share must lie in [0, 1), got {share}")
    ids = _as_strings(customer_ids)
    if share == 0.0:
        return np.zeros(len(ids), dtype=bool)
    return _hash(ids, salt) < share
