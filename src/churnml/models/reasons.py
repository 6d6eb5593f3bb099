"""Readable descriptions of the churn model's reason codes.

A reason code names a feature, its value and its signed contribution to the
customer's churn score (LightGBM's TreeSHAP, in log-odds). :func:`describe` turns the
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal, Protocol

import numpy as np

from churnml.data.contract import CONSENT_COLUMNS


class Row(Protocol):
    """A customer's feature values by name (a ``dict`` will do)."""

    def get(self, key: str, default: float, /) -> float: ...


_EVENT_LABELS: dict[str, str] = {
    "email_open": "e-mail opens",
    "email_click": "e-mail clicks",
    "site_visit": "site visits",
    "app_session": "app sessions",
    "cart_abandon": "abandoned carts",
    "support_ticket": "support tickets",
}
_CONSENT_LABELS: dict[str, str] = {
    "consent_email": "e-mail",
    "consent_sms": "SMS",
    "consent_push": "push",
    "consent_call": "phone call",
}


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def _n(x: float) -> str:
    """A count or a number of days: integer when whole, else one decimal."""
    if _missing(x) or math.isinf(x):
        return "unknown"
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _plural(x: float, word: str) -> str:
    return f"{_n(x)} {word}" + ("" if abs(x - 1) < 0.05 else "s")


def _ratio(x: float) -> str:
    return f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


def _recency(row: Row) -> str:
    days = row.get("recency_days", math.nan)
    gap = row.get("mean_gap_days", math.nan)
    if _missing(days):
        return "no purchase history"
    if _missing(gap) or gap <= 0:
        return f"only one purchase, {_plural(days, 'day')} ago"
    ratio = days / gap
    if ratio < 1:
        return f"last purchase {_plural(days, 'day')} ago, within your usual gap of {_n(gap)} days"
    return f"no purchase for {_plural(days, 'day')}, {_ratio(ratio)} your usual gap"


def _gap_ratio(row: Row) -> str:
    if _missing(row.get("gap_ratio", math.nan)):
        return "only one purchase so far: no usual gap yet"
    return _recency(row)


def _mean_gap(row: Row) -> str:
    gap = row.get("mean_gap_days", math.nan)
    if _missing(gap):
        return "only one purchase so far"
    return f"usually {_n(gap)} days between purchases"


def _orders(row: Row) -> str:
    return f"{_plural(row.get('n_orders', 0.0), 'purchase')} in total"


def _frequency(row: Row) -> str:
    return f"{_plural(row.get('frequency', 0.0), 'repeat purchase')}"


def _tenure(row: Row) -> str:
    return f"customer for {_plural(row.get('tenure_days', 0.0), 'day')} (since the first purchase)"


def _window_orders(days: int) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        return f"{_plural(row.get(f'orders_{days}d', 0.0), 'purchase')} in the last {days} days"

    return text


def _window_spend(days: int) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        return f"spent {_money(row.get(f'spend_{days}d', 0.0))} in the last {days} days"

    return text


def _trend(row: Row) -> str:
    now = row.get("orders_90d", 0.0)
    before = row.get("orders_prev_90d", 0.0)
    if now < before:
        return f"purchases fell from {_n(before)} to {_n(now)} (last 90 days vs the 90 before)"
    if now > before:
        return f"purchases rose from {_n(before)} to {_n(now)} (last 90 days vs the 90 before)"
    return f"{_plural(now, 'purchase')} in the last 90 days, as many as in the 90 before"


def _returns(row: Row) -> str:
    n = row.get("n_returns", 0.0)
    if n <= 0:
        return "no returns"
    return f"{_plural(n, 'return')} in history"


def _return_rate(row: Row) -> str:
    rate = row.get("return_rate", 0.0)
    if _missing(rate) or rate <= 0:
        return "no returns"
    return f"returned {rate:.0%} of orders ({_plural(row.get('n_returns', 0.0), 'return')})"


def _return_amount(row: Row) -> str:
    amount = row.get("return_amount", 0.0)
    return "no returns" if amount <= 0 else f"returned goods worth {_money(amount)}"


def _since_return(row: Row) -> str:
    days = row.get("days_since_return", math.nan)
    return "no returns" if _missing(days) else f"last return {_plural(days, 'day')} ago"


def _share(channel: str) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        share = row.get(f"share_{channel}", 0.0)
        share = 0.0 if _missing(share) else share
        return f"{share:.0%} of orders {'in other channels' if channel == 'other' else channel}"

    return text


def _channels(row: Row) -> str:
    return f"buys in {_plural(row.get('n_channels', 0.0), 'channel')}"


def _consent(column: str) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        given = row.get(column, 0.0) > 0.5
        label = _CONSENT_LABELS.get(column, column.removeprefix("consent_"))
        return f"{'gave' if given else 'no'} {label} consent"

    return text


def _signup(row: Row) -> str:
    days = row.get("days_since_signup", math.nan)
    return "no sign-up date" if _missing(days) else f"signed up {_plural(days, 'day')} ago"


def _event_count(event: str) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        return f"{_n(row.get(f'{event}_90d', 0.0))} {_EVENT_LABELS[event]} in the last 90 days"

    return text


def _event_since(event: str) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        days = row.get(f"days_since_{event}", math.nan)
        label = _EVENT_LABELS[event]
        if _missing(days):
            return f"no {label} on record"
        return f"last of the {label} {_plural(days, 'day')} ago"

    return text


def _engagement(row: Row) -> str:
    now = row.get("engagement_30d", 0.0)
    before = row.get("engagement_prev_60d", 0.0) / 2.0  # the 60 days before, per 30 days
    if now < before:
        return f"e-mail/site/app engagement fell from {_n(before)} to {_n(now)} in the last 30 days"
    if now > before:
        return f"e-mail/site/app engagement rose from {_n(before)} to {_n(now)} in the last 30 days"
    if now == 0:
        return "no e-mail, site or app engagement in the last 90 days"
    return f"steady engagement: {_n(now)} interactions in the last 30 days"


def _since_engagement(row: Row) -> str:
    days = row.get("days_since_engagement", math.nan)
    if _missing(days):
        return "never opened an e-mail, visited the site or used the app"
    return f"last e-mail, site or app interaction {_plural(days, 'day')} ago"


def _since_order(column: str, word: str) -> Callable[[Row], str]:
    """'<n> <word>s since the last order' for a count column (returns, tickets)."""

    def text(row: Row) -> str:
        n = row.get(column, 0.0)
        if _missing(n) or n <= 0:
            return f"no {word} since the last order"
        return f"{_plural(n, word)} since the last order"

    return text


def _engagement_since_order(row: Row) -> str:
    since = row.get("engagement_rate_since_order", math.nan)
    before = row.get("engagement_rate_before_order", math.nan)
    if _missing(since):
        return "ordered yesterday"
    if _missing(before) or before <= 0:
        return f"{since:.1f} e-mail/site/app interactions a month since the last order"
    return (
        f"e-mail/site/app interactions since the last order: {since:.1f} a month, "
        f"against {before:.1f} before it"
    )


def _engagement_fade(row: Row) -> str:
    fade = row.get("engagement_fade_before_order", math.nan)
    if _missing(fade):
        return "no e-mail/site/app interaction in the year before the last order"
    return f"engagement in the 90 days before the last order at {fade:.0%} of that year's rate"


def _contacts(row: Row) -> str:
    return f"contacted {_plural(row.get('contacts_180d', 0.0), 'time')} in the last 180 days"


def _since_contact(row: Row) -> str:
    days = row.get("days_since_contact", math.nan)
    return (
        "never contacted by a campaign"
        if _missing(days)
        else f"last contacted {_plural(days, 'day')} ago"
    )


def _conversions(row: Row) -> str:
    n = row.get("past_conversions", 0.0)
    return "never responded to a campaign" if n <= 0 else f"responded to {_plural(n, 'campaign')}"


def _p_alive(row: Row) -> str:
    p = row.get("p_alive", math.nan)
    return (
        "no estimate of being active"
        if _missing(p)
        else f"{p:.0%} estimated chance of still being an active customer"
    )


def _expected(row: Row) -> str:
    e = row.get("expected_purchases", math.nan)
    return (
        "no purchase forecast"
        if _missing(e)
        else f"{e:.1f} purchases expected over the LTV horizon"
    )


def _p_no_purchase(row: Row) -> str:
    p = row.get("p_no_purchase", math.nan)
    return (
        "no forecast"
        if _missing(p)
        else f"{p:.0%} forecast chance of no purchase in the churn window"
    )


def _value(column: str, label: str) -> Callable[[Row], str]:
    def text(row: Row) -> str:
        return f"{label} {_money(row.get(column, 0.0))}"

    return text


@dataclass(frozen=True)
class Template:
    """A description template and every feature it may read.

    ``reads`` is what makes bulk descriptions cheap: two customers with the same
    values of these features get the same sentence, so
    :func:`top_reasons` writes each distinct sentence once (a test checks that no
    template reads anything else).
    """

    text: Callable[[Row], str]
    reads: tuple[str, ...]


def _own(text: Callable[[Row], str], column: str) -> Template:
    return Template(text, (column,))


_RECENCY_READS = ("recency_days", "mean_gap_days")
_TREND_READS = ("orders_90d", "orders_prev_90d")
_ENGAGEMENT_READS = ("engagement_30d", "engagement_prev_60d")
_SINCE_ORDER_READS = ("engagement_rate_since_order", "engagement_rate_before_order")

DESCRIPTIONS: dict[str, Template] = {
    "n_orders": _own(_orders, "n_orders"),
    "frequency": _own(_frequency, "frequency"),
    "tenure_days": _own(_tenure, "tenure_days"),
    "recency_days": Template(_recency, _RECENCY_READS),
    "mean_gap_days": _own(_mean_gap, "mean_gap_days"),
    "gap_ratio": Template(_gap_ratio, ("gap_ratio", *_RECENCY_READS)),
    "total_spend": _own(_value("total_spend", "total spend"), "total_spend"),
    "avg_order_value": _own(_value("avg_order_value", "average order"), "avg_order_value"),
    "monetary_value": _own(_value("monetary_value", "average repeat order"), "monetary_value"),
    "max_order_value": _own(_value("max_order_value", "largest order"), "max_order_value"),
    **{f"orders_{d}d": _own(_window_orders(d), f"orders_{d}d") for d in (30, 90, 180, 365)},
    **{f"spend_{d}d": _own(_window_spend(d), f"spend_{d}d") for d in (90, 365)},
    "orders_prev_90d": Template(_trend, _TREND_READS),
    "trend_orders_90d": Template(_trend, _TREND_READS),
    "n_returns": _own(_returns, "n_returns"),
    "return_rate": Template(_return_rate, ("return_rate", "n_returns")),
    "return_amount": _own(_return_amount, "return_amount"),
    "days_since_return": _own(_since_return, "days_since_return"),
    **{
        f"share_{ch}": _own(_share(ch), f"share_{ch}") for ch in ("online", "store", "app", "other")
    },
    "n_channels": _own(_channels, "n_channels"),
    "days_since_signup": _own(_signup, "days_since_signup"),
    "engagement_30d": Template(_engagement, _ENGAGEMENT_READS),
    "engagement_prev_60d": Template(_engagement, _ENGAGEMENT_READS),
    "engagement_trend": Template(_engagement, _ENGAGEMENT_READS),
    "days_since_engagement": _own(_since_engagement, "days_since_engagement"),
    "engagement_rate_since_order": Template(_engagement_since_order, _SINCE_ORDER_READS),
    "engagement_rate_before_order": Template(_engagement_since_order, _SINCE_ORDER_READS),
    "engagement_since_vs_before": Template(_engagement_since_order, _SINCE_ORDER_READS),
    "engagement_fade_before_order": _own(_engagement_fade, "engagement_fade_before_order"),
    "returns_since_order": _own(
        _since_order("returns_since_order", "return"), "returns_since_order"
    ),
    "tickets_since_order": _own(
        _since_order("tickets_since_order", "support ticket"), "tickets_since_order"
    ),
    "contacts_180d": _own(_contacts, "contacts_180d"),
    "days_since_contact": _own(_since_contact, "days_since_contact"),
    "past_conversions": _own(_conversions, "past_conversions"),
    "p_alive": _own(_p_alive, "p_alive"),
    "expected_purchases": _own(_expected, "expected_purchases"),
    "p_no_purchase": _own(_p_no_purchase, "p_no_purchase"),
    **{column: _own(_consent(column), column) for column in CONSENT_COLUMNS},
    **{f"{e}_90d": _own(_event_count(e), f"{e}_90d") for e in _EVENT_LABELS},
    **{f"days_since_{e}": _own(_event_since(e), f"days_since_{e}") for e in _EVENT_LABELS},
}


def _template(feature: str) -> Template:
    """The feature's template; an unknown feature is written as ``<feature> = <value>``."""
    template = DESCRIPTIONS.get(feature)
    if template is not None:
        return template

    def text(row: Row) -> str:
        value = row.get(feature, math.nan)
        return f"{feature} = {'missing' if _missing(value) else f'{value:.4g}'}"

    return Template(text, (feature,))


def describe(feature: str, row: Row) -> str:
    """A sentence describing ``feature`` for one customer.

    Parameters
    ----------
    feature
        Feature name (a column of the model inputs).
    row
        The customer's feature values by name (NaN = "never happened"); templates
        may use other features for context (recency uses the usual gap).
    """
    return _template(feature).text(row)


# ----------------------------------------------------------------- top reasons in bulk


class _LazyRow:
    """Feature values of one row by name, for the description templates."""

    __slots__ = ("_positions", "_values")

    def __init__(self, values: np.ndarray, positions: dict[str, int]):
        self._values = values
        self._positions = positions

    def get(self, name: str, default: float = float("nan")) -> float:
        j = self._positions.get(name)
        return default if j is None else float(self._values[j])


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
    describe_all = _describe_rows if len(data) <= _ROW_BY_ROW else _describe_distinct
    return ReasonCodes(
        features=names[top],
        values=np.asarray(data[rows, top], dtype=np.float64),
        contributions=np.asarray(contributions[rows, top], dtype=np.float64),
        descriptions=describe_all(top, data, feature_names),
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


#: Up to this many rows descriptions are written row by row; above it, each distinct
#: sentence once (sorting the slots costs more than it saves for a few customers).
_ROW_BY_ROW = 64


def _describe_rows(
    top: np.ndarray, data: np.ndarray, feature_names: Sequence[str]
) -> list[list[str]]:
    """The sentence of every ``(row, slot)`` of ``top``, one template call each."""
    positions = {name: j for j, name in enumerate(feature_names)}
    texts = []
    for i, top_i in enumerate(top.tolist()):
        row = _LazyRow(data[i], positions)  # the templates read a few values each
        texts.append([describe(feature_names[j], row) for j in top_i])
    return texts


def _describe_distinct(
    top: np.ndarray, data: np.ndarray, feature_names: Sequence[str]
) -> list[list[str]]:
    """:func:`_describe_rows`, with one template call per distinct sentence input.

    Customers share many sentences ("never opened an e-mail, visited the site or used
    the app", "last purchase 30 days ago"): per feature, the slots are grouped by the
    bytes of the values the template reads (:attr:`Template.reads`), and each group is
    described once. Equal bytes are equal values, so every slot gets exactly the
    sentence :func:`describe` would write for it; on the batch benchmark's data a
    bucket of 48,500 customers needs 53k template calls instead of 145k.
    """
    n, k = top.shape
    positions = {name: j for j, name in enumerate(feature_names)}
    slot_feature = top.ravel()
    slot_row = np.repeat(np.arange(n), k)
    texts = np.empty(n * k, dtype=object)
    by_feature = np.argsort(slot_feature, kind="stable")
    starts = np.flatnonzero(np.diff(slot_feature[by_feature])) + 1
    for slots in np.split(by_feature, starts):
        feature = feature_names[slot_feature[slots[0]]]
        template = _template(feature)
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
        # lacks takes the template's default, as in :func:`describe`).
        distinct[:] = [
            template.text(dict(zip(names, values, strict=True))) for values in read[first].tolist()
        ]
        texts[slots] = distinct[inverse.ravel()]
    return texts.reshape(n, k).tolist()
