"""Adaptive batching of ``/score`` and ``/next_best_action`` requests, with BentoML's dispatcher.

BentoML batches only endpoints whose whole body is a list (``/score_batch``). A
``/score`` body is one request with one cut-off and all-or-nothing errors, so the
service queues each request as one :class:`~churnml.serving.requests.ScoreJob` on
BentoML's own adaptive dispatcher, which releases queued jobs together when it
predicts that waiting pays; :func:`~churnml.serving.requests.score_jobs` then scores
them in one call. A scorer call costs a few milliseconds whatever its size, so under
concurrent one-customer requests this is what keeps the tail latency down.

One change to the dispatcher: it counts customers, not requests, towards the largest
batch, and never cuts a request in two (BentoML splits a list input that does not
fit; a request is a unit of answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import anyio
from bentoml._internal.marshal.dispatcher import CorkDispatcher

from churnml.serving.requests import JobOutcome, ScoreJob

#: Customers per merged scorer call (a request larger than this is scored on its own).
MAX_BATCH_CUSTOMERS = 1_000
#: Longest a request may wait in the queue before it is refused with 503.
MAX_WAIT_MS = 30_000


class Overloaded(Exception):
    """A request waited longer than :data:`MAX_WAIT_MS` for its turn."""


class RequestBatcher(CorkDispatcher[ScoreJob, JobOutcome]):
    """BentoML's adaptive dispatcher over whole requests, sized by their customers."""

    def __init__(
        self, max_customers: int = MAX_BATCH_CUSTOMERS, max_wait_ms: int = MAX_WAIT_MS
    ) -> None:
        super().__init__(
            max_latency_in_ms=max_wait_ms,
            max_batch_size=max_customers,
            fallback=self._refuse,
            get_batch_size=lambda job: len(job.customers),
        )

    def _refuse(self) -> JobOutcome:
        """What a caller gets when the dispatcher drops its request after too long a wait."""
        raise Overloaded(f"the request waited over {self.max_latency:g} s for a free worker")

    def _get_inputs(self, num_batches: int | None = None) -> Iterator[Any]:
        """The queued jobs of the next batch: the oldest, and the next ones while they fit."""
        room = self.max_batch_size if num_batches is None else num_batches
        size = 0
        while self._queue:
            n = self.get_batch_size(self._queue[0].data)
            if size and size + n > room:
                return
            size += n
            yield self._queue.popleft()


def batched(
    score: Callable[[Sequence[ScoreJob]], list[JobOutcome]], batcher: RequestBatcher | None = None
) -> Callable[[ScoreJob], Any]:
    """``score`` (jobs -> outcomes) as an async function of one job.

    ``score`` runs in a thread, so that the event loop goes on reading requests (and
    answering probes) while a batch is scored; the dispatcher runs one batch at a time.
    An outcome that is an exception is raised to the caller of its job.
    """

    async def in_thread(jobs: Sequence[ScoreJob]) -> list[JobOutcome]:
        return await anyio.to_thread.run_sync(score, jobs)

    dispatcher = batcher or RequestBatcher()
    return cast("Callable[[ScoreJob], Any]", dispatcher(in_thread))
