"""The per-request timeout, without keeping every request alive for the whole timeout.

BentoML 1.4 answers 504 when a request has not started its response within
``traffic.timeout`` seconds. Its ``TimeoutMiddleware`` schedules one
``loop.call_later(timeout, ...)`` per request and never cancels it, and an asyncio
timer holds the request's context (its tracing span, futures and their locks) until it
fires. Under sustained load a worker therefore carries a minute of finished requests:
~125,000 objects at 80 requests/s, which every full garbage collection walks; ``/score``
p99 climbed from ~90 ms to 150-215 ms after the first minute (docs/benchmarks.md).

:class:`ReleasingTimeoutMiddleware` keeps BentoML's behaviour (the same 504 body and
the same place in the middleware stack) and differs in two points: the timer runs in an
empty context, and it is cancelled as soon as the response starts or the app ends.
:func:`release_request_timers` puts it in BentoML's place; the tests check that BentoML
still builds its stack from that name, so an upgrade that moves it fails loudly.
"""

from __future__ import annotations

import asyncio
import contextvars

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

from churnml.serving.middleware import Message, Receive, Scope, Send


class ReleasingTimeoutMiddleware(traffic.TimeoutMiddleware):
    """504 after ``timeout`` seconds without a response start; nothing kept once answered."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(
            self.timeout, self._set_timer_out, started, context=contextvars.Context()
        )

        def _started(*_: object) -> None:
            if not started.done():
                started.set_result(None)

        async def _send(message: Message) -> None:
            _started()
            await send(message)

        app = asyncio.ensure_future(self.app(scope, receive, _send))
        # An app that fails before answering must not wait out the timeout.
        app.add_done_callback(_started)
        try:
            await started
        except TimeoutError:
            if app.cancel():
                body = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(body, status_code=504)(scope, receive, send)
            return
        finally:
            timer.cancel()  # answered, failed or timed out: the timer has nothing left to do
        await app


def release_request_timers() -> None:
    """Make BentoML build its request timeout from :class:`ReleasingTimeoutMiddleware`.

    BentoML imports the class by name from its ``traffic`` module when it assembles a
    worker's middleware stack, after the service module is imported; call this at
    import time of the service. Idempotent.
    """
    if not issubclass(traffic.TimeoutMiddleware, ReleasingTimeoutMiddleware):
        traffic.TimeoutMiddleware = ReleasingTimeoutMiddleware  # type: ignore[misc]


__all__ = ["ReleasingTimeoutMiddleware", "release_request_timers"]
