"""From HTTP requests to the scorer and back, with errors that name the field.

The request models (:mod:`churnml.serving.schemas`) become the same four tables a
batch job reads from files, and those go through
:func:`churnml.data.contract.validate_tables` and then the one
:class:`~churnml.scoring.Scorer`. Nothing here computes a feature or a score.

Errors are :class:`RequestError` with an HTTP status and a list of problems
located like pydantic's own errors, e.g. ``["customers", 0, "orders", 3,
"order_date"]``, so a client reads schema errors (400, raised by the framework)
and data errors (422, raised here) the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.actions.budget import Budget
from churnml.data.contract import CONSENT_COLUMNS, InputTables, validate_tables
from churnml.errors import ChurnmlError, DataValidationError
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer
from churnml.serving.schemas import (
    ActionResponse,
    ActionResult,
    BatchCustomer,
    BatchItem,
    Customer,
    ErrorItem,
    ErrorResponse,
    ScoreResponse,
    ScoreResult,
)

Loc = list[str | int]

#: Where each contract table's rows live in a request, and the field names of its columns.
_TABLE_FIELD = {"transactions": "orders", "events": "events", "campaigns": "campaigns"}
#: The fields of a request's campaign record, in the contract's column order.
CAMPAIGN_FIELDS = (
    "campaign_id",
    "sent_date",
    "action",
    "treated",
    "converted",
    "revenue",
    "channel",
)

#: Fields of :class:`ActionResult` taken from a scorer row.
ACTION_FIELDS: tuple[str, ...] = tuple(ActionResult.model_fields)


class RequestError(ChurnmlError):
    """A client error: HTTP ``status``, a short ``error`` code and located problems."""

    def __init__(self, status: int, error: str, detail: Sequence[ErrorItem] = ()):
        self.status = status
        self.error = error
        self.detail = list(detail)
        super().__init__(
            f"{error}: " + "; ".join(f"{_loc_text(d.loc)}: {d.msg}" for d in self.detail)
        )

    def response(self) -> ErrorResponse:
        return ErrorResponse(error=self.error, detail=self.detail)

    def body(self) -> dict[str, Any]:
        return self.response().model_dump()


def _loc_text(loc: Sequence[str | int]) -> str:
    return ".".join(map(str, loc)) or "body"


# ------------------------------------------------------------------------------ tables


@dataclass
class _Rows:
    """Row owners of one contract table: (customer position, position in the customer's list)."""

    owners: list[tuple[int, int]] = field(default_factory=list)


def request_frames(
    customers: Sequence[Customer],
) -> tuple[dict[str, pd.DataFrame | None], dict[str, _Rows]]:
    """The raw (unvalidated) contract tables of ``customers``, with each row's owner."""
    tx: dict[str, list[Any]] = {
        k: [] for k in ("customer_id", "order_date", "amount", "order_id", "channel")
    }
    ev: dict[str, list[Any]] = {k: [] for k in ("customer_id", "event_date", "event_type")}
    ca: dict[str, list[Any]] = {k: [] for k in ("customer_id", *CAMPAIGN_FIELDS)}
    cu: dict[str, list[Any]] = {k: [] for k in ("customer_id", "signup_date", *CONSENT_COLUMNS)}
    rows = {name: _Rows() for name in ("transactions", "customers", "events", "campaigns")}
    for i, c in enumerate(customers):
        cid = c.customer_id
        for j, o in enumerate(c.orders):
            tx["customer_id"].append(cid)
            tx["order_date"].append(o.order_date)
            tx["amount"].append(o.amount)
            tx["order_id"].append(o.order_id)
            tx["channel"].append(o.channel)
            rows["transactions"].owners.append((i, j))
        for j, e in enumerate(c.events):
            ev["customer_id"].append(cid)
            ev["event_date"].append(e.event_date)
            ev["event_type"].append(e.event_type)
            rows["events"].owners.append((i, j))
        for j, k in enumerate(c.campaigns):
            for name in CAMPAIGN_FIELDS:
                ca[name].append(getattr(k, name))
            ca["customer_id"].append(cid)
            rows["campaigns"].owners.append((i, j))
        cu["customer_id"].append(cid)
        cu["signup_date"].append(c.signup_date)
        for flag in CONSENT_COLUMNS:
            cu[flag].append(getattr(c, flag))
        rows["customers"].owners.append((i, 0))

    if all(v is None for v in tx["order_id"]):
        del tx["order_id"]
    if all(v is None for v in ca["channel"]):
        del ca["channel"]
    frames: dict[str, pd.DataFrame | None] = {
        "transactions": _frame(tx),
        "customers": _frame(cu),
        "events": _frame(ev) if ev["customer_id"] else None,
        "campaigns": _frame(ca) if ca["customer_id"] else None,
    }
    return frames, rows


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A frame of request values: the dtypes pandas would infer from the lists, at half
    the cost (a third of turning a one-customer request into tables)."""
    return pd.DataFrame({name: _column(values) for name, values in columns.items()}, copy=False)


def _column(values: list[Any]) -> np.ndarray | list[Any]:
    kinds = {type(v) for v in values}
    if kinds <= {str, type(None)}:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    if kinds == {bool}:
        return np.array(values, dtype=bool)
    return values  # anything else: pandas infers, as it always did


def request_tables(
    customers: Sequence[Customer], positions: Sequence[int] | None = None
) -> InputTables:
    """Validated :class:`InputTables` of ``customers`` through the data contract.

    Parameters
    ----------
    customers
        Customers whose ids are unique.
    positions
        The position of each customer in the request, used in error locations
        (default 0, 1, ...).

    Raises
    ------
    RequestError
        422 with every contract problem located in the request.
    """
    frames, rows = request_frames(customers)
    try:
        return validate_tables(
            frames["transactions"], frames["customers"], frames["events"], frames["campaigns"]
        )
    except DataValidationError as err:
        pos = list(positions) if positions is not None else list(range(len(customers)))
        raise RequestError(422, "invalid_data", _locate(err, rows, pos)) from None


def _locate(
    err: DataValidationError, rows: dict[str, _Rows], positions: list[int]
) -> list[ErrorItem]:
    """Contract problems (table, column, 1-based rows) as request locations."""
    out: list[ErrorItem] = []
    for p in err.problems:
        column = None if p.column == "*" else p.column
        owners = rows.get(p.table, _Rows()).owners
        if not p.rows or not owners:
            where: Loc = ["customers"]
            if column:
                where.append(column)
            out.append(ErrorItem(loc=where, msg=p.message, type="invalid_data"))
            continue
        for r in p.rows:
            i, j = owners[r - 1]
            loc: Loc = ["customers", positions[i]]
            if p.table in _TABLE_FIELD and column != "customer_id":
                loc += [_TABLE_FIELD[p.table], j]
            if column:
                loc.append(column)
            out.append(ErrorItem(loc=loc, msg=p.message, type="invalid_data"))
    return out


def _duplicates(customers: Sequence[Customer]) -> list[ErrorItem]:
    seen: dict[str, int] = {}
    out: list[ErrorItem] = []
    for i, c in enumerate(customers):
        if c.customer_id in seen:
            out.append(
                ErrorItem(
                    loc=["customers", i, "customer_id"],
                    msg=f"duplicate customer_id (also at customers.{seen[c.customer_id]}): "
                    "send all of a customer's history in one entry",
                    type="duplicate",
                )
            )
        else:
            seen[c.customer_id] = i
    return out


def _no_history(position: int, as_of: dt.date) -> ErrorItem:
    return ErrorItem(
        loc=["customers", position, "orders"],
        msg=f"no purchase before as_of {as_of.isoformat()}: nothing to score "
        "(orders on or after as_of and refunds do not count)",
        type="no_purchase_before_as_of",
    )


# ------------------------------------------------------------------------------ scoring


def score_customers(scorer: Scorer, customers: Sequence[Customer], as_of: dt.date) -> pd.DataFrame:
    """Scorer output of ``customers`` at ``as_of``, one row per customer in request order.

    Raises
    ------
    RequestError
        422 for duplicate ids, contract problems, or customers without a purchase
        before ``as_of`` (every such customer is listed).
    """
    return pd.DataFrame(_columns_in_order(scorer, customers, as_of), copy=False)


def score_rows(
    scorer: Scorer, customers: Sequence[Customer], as_of: dt.date
) -> list[dict[str, Any]]:
    """:func:`score_customers` as response rows (:func:`rows`), without a frame in between.

    The service answers from these: for one customer, building a frame and reading
    it back cost ~1 ms of a ~9 ms request.
    """
    return rows(_columns_in_order(scorer, customers, as_of))


def _columns_in_order(
    scorer: Scorer, customers: Sequence[Customer], as_of: dt.date
) -> dict[str, np.ndarray]:
    problems = _duplicates(customers)
    if problems:
        raise RequestError(422, "invalid_data", problems)
    columns, order = _scored(scorer, customers, as_of)
    return _take(columns, order, as_of)


def _scored(
    scorer: Scorer, customers: Sequence[Customer], as_of: dt.date
) -> tuple[dict[str, np.ndarray], list[int | None]]:
    """Scorer columns of ``customers`` (unique ids) and each customer's row in them
    (``None``: no purchase before ``as_of``, so the scorer left the customer out)."""
    columns = scorer.score_columns(request_tables(customers), pd.Timestamp(as_of))
    position = {cid: i for i, cid in enumerate(columns["customer_id"].tolist())}
    return columns, [position.get(c.customer_id) for c in customers]


def _take(
    columns: dict[str, np.ndarray], order: Sequence[int | None], as_of: dt.date
) -> dict[str, np.ndarray]:
    """The rows ``order`` of ``columns``; 422 naming the customers without a row."""
    missing = [i for i, k in enumerate(order) if k is None]
    if missing:
        raise RequestError(422, "no_history", [_no_history(i, as_of) for i in missing])
    take = np.asarray(order, dtype=np.intp)
    return {name: values[take] for name, values in columns.items()}


@dataclass(frozen=True)
class ScoreJob:
    """The customers and cut-off of one ``/score`` request, waiting to be scored with others."""

    customers: Sequence[Customer]
    as_of: dt.date


#: What :func:`score_jobs` answers for one job: its response rows, or the client error.
JobOutcome = list[dict[str, Any]] | ChurnmlError


def score_jobs(
    scorer: Scorer, jobs: Sequence[ScoreJob], *, budget_per_job: bool = True
) -> list[JobOutcome]:
    """Answer several requests with one scorer call per cut-off, each as if scored alone.

    The service merges concurrent requests (adaptive batching): a scorer call costs a
    few milliseconds whatever its size, so one call for many small requests is what
    keeps latency flat under load. Scores do not depend on which other customers share
    a call, except for a campaign-wide budget or contact cap, which is allocated over
    one call: with one configured and ``budget_per_job``, every request is scored alone.

    Returns one outcome per job, in order: the rows :func:`score_rows` would return,
    or the :class:`~churnml.errors.ChurnmlError` it would raise (returned, so one
    request's bad data never fails the others it was merged with).
    """
    outcomes: list[JobOutcome | None] = [None] * len(jobs)
    for k, job in enumerate(jobs):
        problems = _duplicates(job.customers)
        if problems:
            outcomes[k] = RequestError(422, "invalid_data", problems)
    pending = [k for k, outcome in enumerate(outcomes) if outcome is None]
    alone = budget_per_job and bool(Budget.of(scorer.policy.config))
    for members in [[k] for k in pending] if alone else _disjoint_groups(jobs, pending):
        _score_group(scorer, jobs, members, outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _disjoint_groups(jobs: Sequence[ScoreJob], members: Iterable[int]) -> list[list[int]]:
    """Jobs grouped by cut-off, then into groups in which no customer id occurs twice:
    a customer sent in two requests is scored on each request's history, never a merge."""
    by_day: dict[dt.date, list[tuple[set[str], list[int]]]] = defaultdict(list)
    for k in members:
        ids = {c.customer_id for c in jobs[k].customers}
        layers = by_day[jobs[k].as_of]
        for seen, group in layers:
            if seen.isdisjoint(ids):
                seen |= ids
                group.append(k)
                break
        else:
            layers.append((ids, [k]))
    return [group for layers in by_day.values() for _, group in layers]


def _score_group(
    scorer: Scorer, jobs: Sequence[ScoreJob], members: list[int], outcomes: list[JobOutcome | None]
) -> None:
    """Score ``members`` (one cut-off, distinct ids) in one call. If the merged input has a
    problem, halve the group until each request with a problem has its own error."""
    as_of = jobs[members[0]].as_of
    try:
        columns, order = _scored(scorer, [c for k in members for c in jobs[k].customers], as_of)
    except ChurnmlError as err:
        if len(members) == 1:
            outcomes[members[0]] = err
            return
        half = len(members) // 2
        _score_group(scorer, jobs, members[:half], outcomes)
        _score_group(scorer, jobs, members[half:], outcomes)
        return
    start = 0
    for k in members:
        stop = start + len(jobs[k].customers)
        try:
            outcomes[k] = rows(_take(columns, order[start:stop], as_of))
        except RequestError as err:
            outcomes[k] = err
        start = stop


def score_response(
    scored: list[dict[str, Any]], as_of: dt.date, model_name: str, model_version: str
) -> ScoreResponse:
    return ScoreResponse(
        model_name=model_name,
        model_version=model_version,
        as_of=as_of.isoformat(),
        results=[ScoreResult.model_validate(row) for row in scored],
    )


def action_response(
    scored: list[dict[str, Any]], as_of: dt.date, model_name: str, model_version: str
) -> ActionResponse:
    results = [ActionResult.model_validate({k: row[k] for k in ACTION_FIELDS}) for row in scored]
    return ActionResponse(
        model_name=model_name, model_version=model_version, as_of=as_of.isoformat(), results=results
    )


def rows(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Plain-Python rows of scorer columns: NaN -> None, ``churn_reasons`` parsed."""
    names = list(OUTPUT_COLUMNS)
    out = []
    for values in zip(*(columns[c].tolist() for c in names), strict=True):
        clean = {k: _plain(v) for k, v in zip(names, values, strict=True)}
        reasons = clean.get("churn_reasons")
        clean["churn_reasons"] = (
            json.loads(reasons) if isinstance(reasons, str) else (reasons or [])
        )
        out.append(clean)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# ------------------------------------------------------------------------------ batches


def score_batch(scorer: Scorer, items: Sequence[BatchCustomer], today: dt.date) -> list[BatchItem]:
    """Score the customers of a (server-side merged) batch; one item per customer, in order.

    A batch mixes customers of several requests, so one customer's bad data must
    not fail the others: each customer is one job of :func:`score_jobs` (with its own
    cut-off, default ``today``), and a customer that cannot be scored gets an ``error``
    located relative to the customer. A customer id sent twice is scored twice, each
    time with only the history sent with it. A campaign budget is allocated over the
    whole merged batch, as BentoML merged it.
    """
    jobs = [ScoreJob([item], item.as_of or today) for item in items]
    out = []
    for item, outcome in zip(items, score_jobs(scorer, jobs, budget_per_job=False), strict=True):
        if isinstance(outcome, list):
            out.append(BatchItem(customer_id=item.customer_id, result=outcome[0]))
            continue
        if isinstance(outcome, RequestError):
            error = ErrorResponse(
                error=outcome.error, detail=[_relative(d) for d in outcome.detail]
            )
        else:
            message = str(outcome).splitlines()[0][:500] if str(outcome) else "cannot score"
            error = ErrorResponse(
                error="cannot_score",
                detail=[ErrorItem(loc=[], msg=message, type="cannot_score")],
            )
        out.append(BatchItem(customer_id=item.customer_id, error=error))
    return out


def _relative(item: ErrorItem) -> ErrorItem:
    """A location inside ``customers[i]`` made relative to that customer."""
    loc = item.loc[2:] if len(item.loc) >= 2 and item.loc[0] == "customers" else item.loc
    return ErrorItem(loc=list(loc), msg=item.msg, type=item.type)
