"""Concurrent ``/score`` requests scored together: the same answers as alone, errors per request.

:func:`churnml.serving.requests.score_jobs` on the session's trained model (real
scorer), and :class:`churnml.serving.batching.RequestBatcher` (BentoML's dispatcher)
under concurrent asyncio callers. The HTTP service tests check the same over a real
``bentoml serve``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

from churnml.datasets import simulate
from churnml.errors import ChurnmlError
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import Scorer
from churnml.serving.payload import payload_from_tables

requests = pytest.importorskip("churnml.serving.requests")
schemas = pytest.importorskip("churnml.serving.schemas")
batching = pytest.importorskip("churnml.serving.batching")

AS_OF = dt.date(2025, 1, 1)
EARLIER = dt.date(2024, 10, 1)


class CountingScorer(Scorer):
    """The real scorer, counting its calls (how many requests were merged)."""

    def __init__(self, bundle: ModelBundle) -> None:
        super().__init__(bundle)
        self.calls = 0

    def score_columns(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().score_columns(*args, **kwargs)


@pytest.fixture(scope="module")
def bundle(trained_model: Any) -> ModelBundle:
    return trained_model.bundle


@pytest.fixture(scope="module")
def customers() -> list[Any]:
    """Request customers of a simulated base with a purchase before :data:`EARLIER`."""
    sim = simulate(300, seed=11)
    tx = sim.transactions
    early = tx[(tx["order_date"] < pd.Timestamp(EARLIER)) & (tx["amount"] > 0)]
    ids = list(pd.unique(early["customer_id"].astype(str)))[:40]
    payload = payload_from_tables(
        sim.transactions, sim.customers, sim.events, sim.campaigns, customer_ids=ids
    )
    return [schemas.Customer.model_validate(c) for c in payload]


def _alone(scorer: Scorer, job: Any) -> Any:
    try:
        return requests.score_rows(scorer, job.customers, job.as_of)
    except ChurnmlError as err:
        return err


def _assert_same_outcome(got: Any, want: Any) -> None:
    if isinstance(want, ChurnmlError):
        assert type(got) is type(want), got
        assert getattr(got, "status", None) == getattr(want, "status", None)
        assert str(got) == str(want)
        return
    assert isinstance(got, list), got
    assert [r["customer_id"] for r in got] == [r["customer_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float):
                assert math.isclose(g[key], value, rel_tol=1e-9, abs_tol=1e-9), key
            else:
                assert g[key] == value, key


def test_merged_requests_get_exactly_the_answers_they_get_alone(
    bundle: ModelBundle, customers: list[Any]
) -> None:
    c = customers
    first = c[0]
    truncated = first.model_copy(update={"orders": first.orders[:1]})
    jobs = [
        requests.ScoreJob([c[0]], AS_OF),
        requests.ScoreJob([c[1], c[2]], AS_OF),
        requests.ScoreJob([c[3]], EARLIER),
        requests.ScoreJob([c[4], c[5], c[6]], AS_OF),
        requests.ScoreJob([c[7]], EARLIER),
        # The same customer again, with less history: scored on its own history.
        requests.ScoreJob([truncated], AS_OF),
        requests.ScoreJob([c[8]], AS_OF),
    ]
    scorer = CountingScorer(bundle)
    got = requests.score_jobs(scorer, jobs)
    # Two cut-offs, and the repeated customer in a call of its own.
    assert scorer.calls == 3
    alone = Scorer(bundle)
    assert len(got) == len(jobs)
    for outcome, job in zip(got, jobs, strict=True):
        _assert_same_outcome(outcome, _alone(alone, job))
    assert got[5] != got[0]  # the truncated history was not merged with the full one


def test_one_requests_bad_data_never_fails_the_requests_merged_with_it(
    bundle: ModelBundle, customers: list[Any]
) -> None:
    c = customers
    late = schemas.Customer.model_validate(
        {"customer_id": "late", "orders": [{"order_date": "2025-03-01", "amount": 10.0}]}
    )
    # Past the request schema (which refuses NaN), as a client library bug might be:
    # the data contract still refuses it, for this request only.
    order = schemas.Order.model_construct(
        order_date=dt.datetime(2024, 5, 1), amount=float("nan"), order_id=None, channel=None
    )
    broken = c[12].model_copy(update={"orders": [order]})
    jobs = [
        requests.ScoreJob([c[10]], AS_OF),
        requests.ScoreJob([c[11], c[11]], AS_OF),
        requests.ScoreJob([late], AS_OF),
        requests.ScoreJob([broken], AS_OF),
        requests.ScoreJob([c[13], c[14]], AS_OF),
    ]
    got = requests.score_jobs(Scorer(bundle), jobs)
    alone = Scorer(bundle)
    for outcome, job in zip(got, jobs, strict=True):
        _assert_same_outcome(outcome, _alone(alone, job))
    assert isinstance(got[0], list) and isinstance(got[4], list)
    locs = {k: [d.loc for d in got[k].detail] for k in (1, 2, 3)}
    assert locs[1] == [["customers", 1, "customer_id"]]
    assert locs[2] == [["customers", 0, "orders"]]
    assert locs[3] == [["customers", 0, "orders", 0, "amount"]]


def test_with_a_campaign_budget_every_request_is_scored_alone(
    bundle: ModelBundle, customers: list[Any]
) -> None:
    """A budget is shared by the customers of one call: merging would change decisions."""
    policy = bundle.config.policy.model_copy(update={"budget": 25.0})
    budgeted = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"policy": policy})
    )
    jobs = [requests.ScoreJob([c], AS_OF) for c in customers[20:26]]
    scorer = CountingScorer(budgeted)
    got = requests.score_jobs(scorer, jobs)
    assert scorer.calls == len(jobs)
    for outcome, job in zip(got, jobs, strict=True):
        _assert_same_outcome(outcome, _alone(Scorer(budgeted), job))


# ---------------------------------------------------------------------------- dispatcher


def _run(calls: Any) -> Any:
    """Run the callers; a dispatcher that loses a request fails the test instead of hanging."""

    async def bounded() -> Any:
        return await asyncio.wait_for(calls, timeout=30)

    return asyncio.run(bounded())


def _jobs(sizes: Sequence[int]) -> list[Any]:
    return [requests.ScoreJob([object()] * n, AS_OF) for n in sizes]


def test_batcher_merges_waiting_requests_counting_customers_and_never_splits_one() -> None:
    sizes = [1, 3, 2, 2, 1, 4, 1, 1, 3, 1, 2, 1]
    jobs = _jobs(sizes)
    batches: list[list[int]] = []

    def score(batch: Sequence[Any]) -> list[Any]:
        batches.append([len(j.customers) for j in batch])
        time.sleep(0.03)  # a scorer call: requests arriving meanwhile wait for the next
        return [[{"job": jobs.index(j)}] for j in batch]

    async def run() -> list[Any]:
        call = batching.batched(score, batching.RequestBatcher(max_customers=4))
        return await asyncio.gather(*(call(j) for j in jobs))

    answers = _run(run())
    assert answers == [[{"job": k}] for k in range(len(jobs))]
    assert sorted(n for b in batches for n in b) == sorted(sizes)  # each request once, whole
    assert all(sum(b) <= 4 or len(b) == 1 for b in batches), batches
    assert any(len(b) > 1 for b in batches), batches


def test_an_error_outcome_is_raised_to_its_own_caller_only() -> None:
    jobs = _jobs([1, 1, 1])
    refused = requests.RequestError(422, "invalid_data")

    def score(batch: Sequence[Any]) -> list[Any]:
        return [refused if j is jobs[1] else [{"ok": True}] for j in batch]

    async def run() -> list[Any]:
        call = batching.batched(score)
        return await asyncio.gather(*(call(j) for j in jobs), return_exceptions=True)

    answers = _run(run())
    assert answers[0] == answers[2] == [{"ok": True}]
    assert answers[1] is refused


def test_a_request_waiting_beyond_the_limit_is_refused_as_overloaded() -> None:
    jobs = _jobs([1, 1, 1, 1])

    def score(batch: Sequence[Any]) -> list[Any]:
        time.sleep(0.5)
        return [[{"ok": True}] for _ in batch]

    async def run() -> list[Any]:
        # One customer per batch, so requests queue behind a 0.5-s call; 50 ms allowed.
        call = batching.batched(score, batching.RequestBatcher(max_customers=1, max_wait_ms=50))
        return await asyncio.gather(*(call(j) for j in jobs), return_exceptions=True)

    answers = _run(run())
    refused = [a for a in answers if isinstance(a, batching.Overloaded)]
    assert refused and "waited over" in str(refused[0])
    assert answers[0] == [{"ok": True}]
    assert all(a == [{"ok": True}] or isinstance(a, batching.Overloaded) for a in answers)
