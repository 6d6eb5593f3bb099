"""Request and response models of the HTTP service (pydantic v2).

A request carries one or many customers, each with the history the data contract
describes (:mod:`churnml.data.contract`): orders (the transactions table), and
optionally events, consent flags, a signup date and past campaign contacts. The
models only check *shapes and bounds* (types, required fields, sizes, date
syntax); :mod:`churnml.serving.requests` then turns them into the same tables a
batch file becomes and runs the contract's validators on them, so HTTP and batch
share one validation and feature path.

Dates and timestamps are ISO-8601 strings (``2024-03-31``, ``2024-03-31T18:05:00``
or with an offset, ``2024-03-31T18:05:00+02:00``). As in batch files, an offset
describes the local clock: the wall-clock time is kept and the offset dropped.

Every bound below is part of the published OpenAPI schema, so a client learns the
limits from ``/docs.json`` rather than from a failed call.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

#: Customers per ``score`` / ``next_best_action`` request.
MAX_CUSTOMERS = 1_000
#: Customers per ``score_batch`` request (the server batches requests further).
MAX_BATCH_CUSTOMERS = 5_000
#: Orders, events and campaign contacts per customer.
MAX_ORDERS = 10_000
MAX_EVENTS = 10_000
MAX_CAMPAIGNS = 1_000
#: Longest id (customer, order, campaign, action) and label (channel, event type).
MAX_ID_LENGTH = 128
MAX_LABEL_LENGTH = 64
#: Largest absolute order amount or campaign revenue, in currency units.
MAX_AMOUNT = 1e9
#: Dates must lie in [MIN_DATE, MAX_DATE), the data contract's range.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2200, 1, 1)

# Exact Gregorian calendar dates of 1900-2199, so that the published schema says precisely
# which dates are valid (and generated clients or fuzzers do not guess).
_DAY_PATTERN = (
    r"(?:(?:19|20|21)[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:19|20|21)(?:0[48]|[2468][048]|[13579][26])-02-29|2000-02-29)"
)
_TIMESTAMP_PATTERN = (
    rf"^{_DAY_PATTERN}"
    r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"  # optional time
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?$"  # optional offset (after a time)
)
#: Ids and labels: printable (no control characters, which could forge log lines), not blank.
#: Clients read ``\s`` as ECMA-262 does (JSON Schema's dialect), the server as Unicode
#: White_Space: they differ on U+0085 and U+FEFF, so neither may be the one non-blank character.
_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85\ufeff][^\x00-\x1f\x7f]*$"


def _check_date(value: Any) -> Any:
    """Only ``YYYY-MM-DD`` strings (or date objects) are dates: no numbers, no timestamps."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a timestamp")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise ValueError("expected a date string YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("not a valid calendar date") from None


def _date_in_range(value: dt.date) -> dt.date:
    if not MIN_DATE <= value < MAX_DATE:
        raise ValueError(f"date out of range: must lie in [{MIN_DATE}, {MAX_DATE})")
    return value


Timestamp = Annotated[
    str,
    StringConstraints(pattern=_TIMESTAMP_PATTERN, max_length=40),
    Field(
        description="ISO-8601 date or timestamp, optionally with an offset (local clock is kept)."
    ),
]
Date = Annotated[
    dt.date,
    BeforeValidator(_check_date),
    AfterValidator(_date_in_range),
    WithJsonSchema({"type": "string", "format": "date", "pattern": f"^{_DAY_PATTERN}$"}),
]
Id = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=_TEXT_PATTERN,
    ),
]
Label = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_LABEL_LENGTH,
        pattern=_TEXT_PATTERN,
    ),
]
Money = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]


class _Request(BaseModel):
    # Unknown fields are typos, not data: reject them. Never echo input values in
    # error messages (they end up in logs).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Order(_Request):
    """One order (or order line: lines sharing ``order_id`` are merged into one order)."""

    order_date: Timestamp
    amount: Money = Field(description="Order value in currency units; negative = refund or return.")
    order_id: Id | None = Field(None, description="Lines with the same order_id are one order.")
    channel: Label | None = Field(None, description="online, store, app, marketplace, ...")


class Event(_Request):
    """One behavioural event (e-mail open or click, site visit, cart abandon, ...)."""

    event_date: Timestamp
    event_type: Label = Field(
        description="email_open, email_click, site_visit, app_session, cart_abandon, "
        "support_ticket (others are kept and counted as other)."
    )


class CampaignContact(_Request):
    """One past win-back contact (or held-out control) of the customer."""

    campaign_id: Id
    sent_date: Timestamp
    action: Label = Field(description="Action id from the action catalogue, e.g. email_reminder.")
    treated: bool = Field(
        True, description="False for a held-out control customer (nothing was sent)."
    )
    converted: bool = Field(False, description="Purchased within the campaign's response window.")
    revenue: Money = 0.0
    channel: Label | None = Field(
        None, description="Channel of the contact; default: the action's channel."
    )


class Customer(_Request):
    """A customer and their history. Only ``customer_id`` and ``orders`` are required."""

    customer_id: Id
    orders: list[Order] = Field(min_length=1, max_length=MAX_ORDERS)
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS)
    campaigns: list[CampaignContact] = Field(default_factory=list, max_length=MAX_CAMPAIGNS)
    signup_date: Timestamp | None = None
    consent_email: bool = Field(False, description="Missing consent means no consent.")
    consent_sms: bool = False
    consent_push: bool = False
    consent_call: bool = False


class BatchCustomer(Customer):
    """A customer of a ``score_batch`` call, with its own optional cut-off."""

    as_of: Date | None = Field(None, description="Scoring cut-off (exclusive); default: today.")


EXAMPLE_CUSTOMER: dict[str, Any] = {
    "customer_id": "C0000042",
    "orders": [
        {
            "order_date": "2024-03-02T10:58:15",
            "amount": 54.9,
            "order_id": "O1",
            "channel": "online",
        },
        {"order_date": "2024-06-18", "amount": 31.5, "order_id": "O2", "channel": "store"},
        {
            "order_date": "2024-09-27T18:05:00+02:00",
            "amount": 78.0,
            "order_id": "O3",
            "channel": "app",
        },
        {"order_date": "2024-10-03", "amount": -20.0, "order_id": "O4", "channel": "online"},
    ],
    "events": [
        {"event_date": "2024-11-20T08:12:00", "event_type": "email_open"},
        {"event_date": "2024-12-02T21:40:00", "event_type": "site_visit"},
    ],
    "campaigns": [
        {
            "campaign_id": "winback-2024-09",
            "sent_date": "2024-09-03",
            "action": "email_reminder",
            "treated": True,
            "converted": True,
            "revenue": 78.0,
        },
    ],
    "signup_date": "2023-12-06",
    "consent_email": True,
    "consent_sms": False,
    "consent_push": True,
    "consent_call": False,
}

#: A complete ``score`` / ``next_best_action`` request: documentation and test data.
EXAMPLE_REQUEST: dict[str, Any] = {"as_of": "2025-01-01", "customers": [EXAMPLE_CUSTOMER]}
EXAMPLE_BATCH_REQUEST: dict[str, Any] = {"customers": [{**EXAMPLE_CUSTOMER, "as_of": "2025-01-01"}]}


class ScoreRequest(_Request):
    """Customers to score at one cut-off."""

    model_config = ConfigDict(json_schema_extra={"example": EXAMPLE_REQUEST})

    as_of: Date | None = Field(
        None,
        description="Scoring cut-off (exclusive: history strictly before it counts); default: today.",
    )
    customers: list[Customer] = Field(min_length=1, max_length=MAX_CUSTOMERS)


# ----------------------------------------------------------------------------- responses


class ChurnReason(BaseModel):
    """One reason code: a feature and its signed contribution to the churn score."""

    feature: str
    value: float | None = Field(
        None, description="The customer's value of the feature (null when missing)."
    )
    contribution: float = Field(
        description="TreeSHAP contribution in log-odds; positive raises churn risk."
    )
    description: str = ""


class ScoreResult(BaseModel):
    """Every output field of one customer (see ARCHITECTURE.md); null where undefined."""

    customer_id: str
    as_of: str
    p_alive: float | None
    expected_purchases: float | None = Field(description="Expected purchases over the horizon.")
    p_no_purchase: float | None = Field(
        description="Probability of no purchase in the churn window."
    )
    expected_order_value: float | None
    clv: float | None = Field(description="Discounted customer lifetime value over the horizon.")
    expected_days_to_next_purchase: float | None
    value_if_retained: float | None = Field(
        description="CLV over the horizon if the customer is alive (clv / p_alive)."
    )
    churn_probability: float | None
    churn_reasons: list[ChurnReason]
    segment: str
    value_tier: str
    next_best_action: str
    action_channel: str
    expected_incremental_value: float | None
    control_group: bool
    intended_action: str = Field(
        description="The action planned before the control-group hold-out."
    )
    intended_value: float | None = Field(
        description="Expected incremental value of the intended action (control customers too)."
    )
    intended_cost: float | None = Field(
        description="Contact and expected offer cost of the intended action."
    )
    action_reason: str
    uplift_source: str
    model_name: str
    model_version: str


class ScoreResponse(BaseModel):
    """Scores of the requested customers, in request order."""

    model_name: str
    model_version: str
    as_of: str
    results: list[ScoreResult]


class ActionResult(BaseModel):
    """The next best action of one customer, guardrails, budget and control group applied."""

    customer_id: str
    as_of: str
    next_best_action: str = Field(description="Action id, or no_action.")
    action_channel: str = Field(description="email, sms, push, call, ... or none.")
    expected_incremental_value: float | None = Field(
        description="uplift x value of a return - contact and offer costs of the chosen action "
        "(0 for no_action and for control customers)."
    )
    control_group: bool = Field(description="Held out to measure lift: receives no_action.")
    intended_action: str = Field(
        description="The action the customer would get outside the control group (for lift analysis)."
    )
    intended_value: float | None = Field(
        description="Expected incremental value of the intended action (control customers too)."
    )
    intended_cost: float | None = Field(
        description="Contact and expected offer cost of the intended action."
    )
    action_reason: str
    uplift_source: str = Field(description="learned, prior or none.")
    segment: str
    value_tier: str
    model_name: str
    model_version: str


class ActionResponse(BaseModel):
    """Next best actions of the requested customers, in request order."""

    model_name: str
    model_version: str
    as_of: str
    results: list[ActionResult]


class ErrorItem(BaseModel):
    """One problem, located like pydantic's errors: ``loc`` is the path to the field."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer the service produces itself."""

    error: str
    detail: list[ErrorItem] = Field(default_factory=list)


class BatchItem(BaseModel):
    """One customer of a ``score_batch`` call: a result, or the error that prevented one.

    ``error`` has the shape of an error response; its locations are relative to the
    customer (e.g. ``["orders"]``).
    """

    customer_id: str
    result: ScoreResult | None = None
    error: ErrorResponse | None = None


class ModelInfo(BaseModel):
    """The loaded model: name, version, training dates, parameters and metrics."""

    model_config = ConfigDict(protected_namespaces=())

    model_uri: str
    model_name: str
    model_version: str
    trained_at: str
    training_as_of: str
    churnml_version: str
    horizon_days: int
    churn_window_days: int
    bgnbd_params: dict[str, float]
    gamma_gamma_params: dict[str, float]
    uplift_source: str
    actions: list[str]
    metrics: dict[str, float]


class PublishedScore(BaseModel):
    """The latest batch-scored row of a customer, as ``churnml score --publish`` stored it.

    The fields of :class:`ScoreResult` plus ``published_at``; a table written by
    another churnml version may lack some (null) or carry more (passed through).
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    customer_id: str
    as_of: str | None = None
    p_alive: float | None = None
    expected_purchases: float | None = None
    p_no_purchase: float | None = None
    expected_order_value: float | None = None
    clv: float | None = None
    expected_days_to_next_purchase: float | None = None
    value_if_retained: float | None = None
    churn_probability: float | None = None
    churn_reasons: list[ChurnReason] | None = None
    segment: str | None = None
    value_tier: str | None = None
    next_best_action: str | None = None
    action_channel: str | None = None
    expected_incremental_value: float | None = None
    control_group: bool | None = None
    intended_action: str | None = None
    intended_value: float | None = None
    intended_cost: float | None = None
    action_reason: str | None = None
    uplift_source: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    published_at: str | None = Field(
        None, description="When the batch run published the row (UTC)."
    )
