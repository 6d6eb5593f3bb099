"""Readable descriptions of the churn model's reason codes.

A reason code names a feature, its value and its signed contribution to the
customer's churn score (LightGBM's TreeSHAP, in log-odds). :class:`ReasonCodes` holds
them and :func:`top_reasons` picks the strongest; the words come from
:mod:`churnml.models.reason_texts`, whose :func:`describe` turns the
feature and the customer's other feature values into a sentence a retention team can
act on, e.g. "no purchase for 140 days, 3.0x your usual gap" or "e-mail/site/app
engagement fell from 8 to 1 in the last 30 days" (interactions per 30 days, the 60 days
before halved).

Every feature of :data:`churnml.models.inputs.CHURN_FEATURES` has a template; an
unknown feature falls back to ``"<feature> = <value>"`` so that a model trained on
extra columns still explains itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

import numpy as np

from churnml.models.reason_texts import template_of

# ----------------------------------------------------------------- top reasons in bulk


@dataclass(frozen=True)
class ReasonCodes:
    """The top reason codes of ``n`` customers, ``k`` each, as arrays.

    Batch scoring serialises hundreds of thousands of these per run: keeping them as
    arrays and writing the JSON text directly costs a fraction of building a dict per
    reason and passing it through :func:`json.dumps`.

    Attributes
    ----------
    features
        ``(n, k)`` feature names.
    values
        ``(n, k)`` the customer's value of each feature (NaN = missing).
    contributions
        ``(n, k)`` signed TreeSHAP contributions (log-odds; positive raises churn risk).
    descriptions
        ``n`` lists of ``k`` readable sentences.
    """

    features: np.ndarray
    values: np.ndarray
    contributions: np.ndarray
    descriptions: list[list[str]]

    def __len__(self) -> int:
        return len(self.descriptions)

    def to_records(self) -> list[list[dict[str, Any]]]:
        """Per customer, ``k`` dicts: ``feature``, ``value`` (``None`` when missing),
        ``contribution`` and ``description``."""
        out: list[list[dict[str, Any]]] = []
        for names, values, contribs, texts in zip(
            self.features.tolist(),
            self.values.tolist(),
            self.contributions.tolist(),
            self.descriptions,
            strict=True,
        ):
            out.append(
                [
                    {
                        "feature": name,
                        "value": None if math.isnan(value) else value,
                        "contribution": contrib,
                        "description": text,
                    }
                    for name, value, contrib, text in zip(
                        names, values, contribs, texts, strict=True
                    )
                ]
            )
        return out

    def to_json(self, digits: int = 6) -> list[str]:
        """One compact JSON array per customer, numbers rounded to ``digits`` decimals.

        The text equals ``json.dumps(records, separators=(",", ":"))`` of
        :meth:`to_records` with rounded numbers; it is written directly because that
        round trip cost more than the TreeSHAP values themselves.
        """
        encode = json.encoder.encode_basestring_ascii
        n, k = self.features.shape
        heads = {
            name: f'{{"feature":{encode(name)},"value":' for name in set(self.features.ravel())
        }
        items = [
            f'{heads[name]}{value},"contribution":{contrib},"description":{encode(text)}}}'
            for name, value, contrib, text in zip(
                self.features.ravel().tolist(),
                _json_numbers(self.values.ravel(), digits, distinct=True),
                _json_numbers(self.contributions.ravel(), digits),
                (text for texts in self.descriptions for text in texts),
                strict=True,
            )
        ]
        return ["[" + ",".join(items[i : i + k]) + "]" for i in range(0, n * k, k)]


def _json_numbers(values: np.ndarray, digits: int, distinct: bool = False) -> list[str]:
    """:func:`_json_number` of every value, in bulk.

    Finite values are formatted with ``map`` (no Python frame per value). With
    ``distinct``, each distinct value is written once and indexed back: feature values
    repeat (days, counts, zeros); contributions do not.
    """
    if distinct and len(values) >= 1_000:
        unique, inverse = np.unique(values, return_inverse=True)  # NaNs collapse into one
        indexed = np.array(_json_numbers(unique, digits), dtype=object)[inverse.ravel()]
        negative_zero = (values == 0) & np.signbit(values)  # np.unique merges -0.0 and 0.0
        indexed[negative_zero] = _json_number(-0.0, digits)
        return indexed.tolist()
    if not np.isfinite(values).all():
        return [_json_number(x, digits) for x in values.tolist()]
    if digits > 8:
        return list(map(repr, map(round, values.tolist(), repeat(digits))))
    # printf's fixed point is correctly rounded (half to even on the exact binary value),
    # as ``round`` is: stripped of trailing zeros it is the shortest text of the rounded
    # number, at half the cost. Not where ``repr`` writes an exponent (below 1e-4) or
    # "-0.0", nor from 1e6 on (more significant digits than that argument allows).
    texts = [t.rstrip("0") for t in map(f"%.{digits}f".__mod__, values.tolist())]
    texts = [t + "0" if t.endswith(".") else t for t in texts]
    magnitude = np.abs(values)
    for i in np.flatnonzero((magnitude < 1e-4) | (magnitude >= 1e6)).tolist():
        texts[i] = _json_number(float(values[i]), digits)
    return texts


def _json_number(x: float, digits: int) -> str:
    """``round(x, digits)`` as :func:`json.dumps` writes it, NaN as ``null`` (missing).

    Python's ``round`` (correctly rounded), not ``np.round`` (scale, round, unscale),
    which differs in the last digit for some values.
    """
    if math.isfinite(x):
        return repr(round(x, digits))
    if x != x:
        return "null"
    return "Infinity" if x > 0 else "-Infinity"


def top_reasons(
    contributions: np.ndarray,
    data: np.ndarray,
    feature_names: Sequence[str],
    k: int,
    order: Literal["risk", "magnitude"] = "risk",
) -> ReasonCodes:
    """The ``k`` top contributing features of every row, with their descriptions.

    Parameters
    ----------
    contributions
        ``(n, p)`` per-feature contributions (without the base value).
    data
        ``(n, p)`` the feature values the contributions explain.
    feature_names
        The ``p`` feature names.
    k
        Reasons per row (at most ``p``).
    order
        ``"risk"``: largest signed contribution first; ``"magnitude"``: largest
        absolute contribution first.
    """
    k = min(k, len(feature_names))
    key = contributions if order == "risk" else np.abs(contributions)
    top = _top_columns(key, k)
    rows = np.arange(len(data))[:, None]
    names = np.asarray(feature_names, dtype=object)
    return ReasonCodes(
        features=names[top],
        values=np.asarray(data[rows, top], dtype=np.float64),
        contributions=np.asarray(contributions[rows, top], dtype=np.float64),
        descriptions=_describe(top, data, feature_names),
    )


def _top_columns(key: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` column indices of the ``k`` largest keys of every row, largest first.

    Ties go to the lower column, as in a stable descending sort. For a few reasons
    out of dozens of features, ``k`` passes of ``argmax`` (masking each pick) cost
    a fraction of sorting every row; keys with NaN or infinities are sorted.
    """
    if k > 8 or not np.isfinite(key).all():
        return np.argsort(-key, axis=1, kind="stable")[:, :k]
    work = np.array(key, dtype=np.float64)
    rows = np.arange(len(work))
    top = np.empty((len(work), k), dtype=np.intp)
    for slot in range(k):
        top[:, slot] = work.argmax(axis=1)  # the first of equal maxima
        work[rows, top[:, slot]] = -np.inf
    return top


def _describe(top: np.ndarray, data: np.ndarray, feature_names: Sequence[str]) -> list[list[str]]:
    """The sentence of every ``(row, slot)`` of ``top``, one template call per distinct input.

    Customers share many sentences ("never opened an e-mail, visited the site or used
    the app", "last purchase 30 days ago"): per feature, the slots are grouped by the
    bytes of the values the template reads (:attr:`Template.reads`), and each group is
    described once. Equal bytes are equal values, so every slot gets exactly the
    sentence :func:`~churnml.models.reason_texts.describe` writes for it; on the batch
    benchmark's data a bucket of 48,500 customers needs 53k template calls instead of
    145k.
    """
    n, k = top.shape
    if n * k == 0:
        return [[] for _ in range(n)]
    positions = {name: j for j, name in enumerate(feature_names)}
    slot_feature = top.ravel()
    slot_row = np.repeat(np.arange(n), k)
    texts = np.empty(n * k, dtype=object)
    by_feature = np.argsort(slot_feature, kind="stable")
    starts = np.flatnonzero(np.diff(slot_feature[by_feature])) + 1
    for slots in np.split(by_feature, starts):
        feature = feature_names[slot_feature[slots[0]]]
        template = template_of(feature)
        names = [c for c in template.reads if c in positions]
        slot_rows = slot_row[slots]
        read = np.ascontiguousarray(data[slot_rows[:, None], [positions[c] for c in names]])
        if names:
            keys = read.view(np.dtype((np.void, read.itemsize * len(names)))).ravel()
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        else:  # reads nothing the model has: one sentence from the defaults
            first, inverse = np.zeros(1, dtype=np.intp), np.zeros(len(slots), dtype=np.intp)
        distinct = np.empty(len(first), dtype=object)
        # The template sees exactly what it reads (a feature it reads that the model
        # lacks takes the template's default, as in ``describe``).
        distinct[:] = [
            template.text(dict(zip(names, values, strict=True))) for values in read[first].tolist()
        ]
        texts[slots] = distinct[inverse.ravel()]
    return texts.reshape(n, k).tolist()
