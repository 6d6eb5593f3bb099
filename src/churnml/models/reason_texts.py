"""How a feature's contribution to a churn score is said in words.

:data:`DESCRIPTIONS` maps each feature of the churn model to a :class:`Template`
that reads the customer's own values (a :data:`Row`) and says what they mean
("no order for 140 days", "3 returns since the last order"); :func:`describe`
applies it. :mod:`churnml.models.reasons` picks the features and calls it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


def template_of(feature: str) -> Template:
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
    return template_of(feature).text(row)
