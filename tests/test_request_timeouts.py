"""The request timeout answers 504 as BentoML's does, and releases a request once answered."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import weakref
from types import SimpleNamespace
from typing import Any

import pytest
from bentoml._internal.server.base_app import BaseAppFactory
from bentoml._internal.server.http import traffic

import churnml.serving.service  # noqa: F401  (installs the timeout at import, as BentoML does)
from churnml.serving.timeouts import ReleasingTimeoutMiddleware

BENTOML_TIMEOUT = ReleasingTimeoutMiddleware.__mro__[1]
REQUEST = contextvars.ContextVar[Any]("request")


class Marker:
    """Stands for what a request's context holds (its tracing span): weakly referencable."""


def ok_app(delay: float = 0.0) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("scoring failed")


async def call(middleware: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware({"type": "http", "path": "/score"}, receive, send)
    return sent


def context_left_behind(middleware_class: type) -> bool:
    """Whether a request's context is still alive after its response was sent."""

    async def main() -> bool:
        middleware = middleware_class(ok_app(), timeout=60)
        marker = Marker()
        REQUEST.set(marker)  # the context of this task, as a tracing span sets it
        sent = await call(middleware)
        assert sent[-1]["body"] == b"ok"
        alive = weakref.ref(marker)
        del marker
        REQUEST.set(None)
        await asyncio.sleep(0)
        gc.collect()
        return alive() is not None

    return asyncio.run(main())


def test_bentoml_builds_its_timeout_from_the_releasing_class() -> None:
    assert traffic.TimeoutMiddleware is ReleasingTimeoutMiddleware
    # The property every BentoML server app (ServiceAppFactory) extends.
    factory = SimpleNamespace(timeout=60, max_concurrency=None)
    built = BaseAppFactory.middlewares.fget(factory)  # type: ignore[attr-defined]
    assert [m.cls for m in built] == [ReleasingTimeoutMiddleware]


def test_a_finished_request_is_released_at_once() -> None:
    assert not context_left_behind(ReleasingTimeoutMiddleware)


def test_bentoml_timeout_keeps_finished_requests_alive() -> None:
    """Why the subclass exists: when this fails, BentoML has mended it; drop the module."""
    assert context_left_behind(BENTOML_TIMEOUT)


def test_a_slow_request_answers_504_with_a_json_body() -> None:
    sent = asyncio.run(call(ReleasingTimeoutMiddleware(ok_app(delay=5.0), timeout=0.05)))
    assert sent[0]["status"] == 504
    assert json.loads(sent[-1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }


def test_a_fast_request_passes_through_unchanged() -> None:
    sent = asyncio.run(call(ReleasingTimeoutMiddleware(ok_app(delay=0.01), timeout=5)))
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[-1]["body"] == b"ok"


def test_an_app_error_surfaces_at_once_not_after_the_timeout() -> None:
    async def main() -> None:
        middleware = ReleasingTimeoutMiddleware(failing_app, timeout=600)
        await asyncio.wait_for(call(middleware), timeout=10)

    with pytest.raises(RuntimeError, match="scoring failed"):
        asyncio.run(main())


def test_other_scopes_pass_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def main() -> None:
        await ReleasingTimeoutMiddleware(app, timeout=0.01)({"type": "lifespan"}, None, None)

    asyncio.run(main())
    assert seen == ["lifespan"]
