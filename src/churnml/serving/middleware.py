"""ASGI middleware in front of the service: API key, body size and type, readiness reason.

It runs before BentoML parses a body, so an oversized or non-JSON request is
refused without being read into a model, and an unauthorised one without being
read at all. Every refusal is a JSON body shaped like the service's other errors,
and so, on the way out, is every error the framework answers itself; the OpenAPI
document is rewritten to declare exactly that (:mod:`churnml.serving.errors`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from churnml.serving.errors import canonical_error, declare_errors

logger = logging.getLogger("churnml.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Default largest request body (bytes); ``CHURNML_MAX_REQUEST_BYTES`` overrides it.
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
API_KEY_HEADER = "x-api-key"

#: Routes that need the model: 503 with the loading error while there is none.
MODEL_PATHS = frozenset({"/score", "/next_best_action", "/score_batch", "/model"})
#: Routes anyone may call: probes, metrics and the API documentation.
OPEN_PATHS = frozenset(
    {"/", "/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/schema.json"}
)
OPEN_PREFIXES = ("/static_content/", "/assets/")


def _max_bytes() -> int:
    try:
        return max(
            1024, int(os.environ.get("CHURNML_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES))
        )
    except ValueError:
        return DEFAULT_MAX_REQUEST_BYTES


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class RequestGuard:
    """API-key check, request size and content-type limits, and a readable ``/readyz``.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    api_key
        Required key; default ``CHURNML_API_KEY`` (no key configured = open service).
    max_bytes
        Largest accepted body; default ``CHURNML_MAX_REQUEST_BYTES`` or 32 MiB.
    """

    def __init__(self, app: ASGIApp, api_key: str | None = None, max_bytes: int | None = None):
        self.app = app
        key = api_key if api_key is not None else os.environ.get("CHURNML_API_KEY", "")
        # Digests of equal length: the comparison leaks neither the key nor its length.
        self.key_digest = _digest(key.encode("utf-8")) if key else None
        self.max_bytes = max_bytes or _max_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = _headers(scope)
        if path == "/readyz" and (reason := _load_error()) is not None:
            await _send_json(send, 503, "not_ready", reason, [], "model_not_loaded")
            return
        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if self.key_digest is not None and not is_open and not self._authorized(headers):
            await _send_json(
                send,
                401,
                "unauthorized",
                "missing or invalid API key: send it in the X-API-Key header",
                ["header", "X-API-Key"],
                "unauthorized",
                extra_headers=[(b"www-authenticate", b'Bearer realm="churnml"')],
            )
            return
        if path in MODEL_PATHS and (reason := _load_error()) is not None:
            await _send_json(send, 503, "model_not_loaded", reason, [], "model_not_loaded")
            return
        send = _normalising(send, scope.get("method", "GET"), path)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return

        content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            await _send_json(
                send,
                415,
                "unsupported_media_type",
                "send the request body as application/json",
                ["header", "Content-Type"],
                "unsupported_media_type",
            )
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json(
                    send,
                    400,
                    "bad_request",
                    "invalid Content-Length",
                    ["header", "Content-Length"],
                    "bad_request",
                )
                return
            if int(declared) > self.max_bytes:
                await self._too_large(send)
                return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.key_digest is not None
        given = headers.get(API_KEY_HEADER)
        if given is None:
            auth = headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        if not given:
            return False
        return hmac.compare_digest(
            _digest(given.encode("utf-8", "surrogateescape")), self.key_digest
        )

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body (also when sent in chunks), or None once it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await _send_json(
            send,
            413,
            "request_too_large",
            f"request body exceeds {self.max_bytes:,} bytes; split it into several calls",
            ["body"],
            "request_too_large",
        )


def _normalising(send: Send, method: str, path: str) -> Send:
    """A ``send`` that puts error bodies into the service's schema and declares it in
    ``/docs.json``; every other response passes through untouched and unbuffered."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def normalised(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            if message["status"] >= 400 or (path == "/docs.json" and message["status"] == 200):
                start = message
                return
        elif message["type"] == "http.response.body" and start is not None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            status = int(start["status"])
            if status >= 400:
                body = canonical_error(status, method, path, body) or body
            else:
                body = json.dumps(declare_errors(json.loads(body))).encode("utf-8")
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() not in _BODY_HEADERS
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send(message)

    return normalised


_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the buffered body first, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _load_error() -> str | None:
    """The model-loading failure of this worker's service instance, if any."""
    try:
        import bentoml

        instance = bentoml.get_current_service()
    except Exception:
        return None
    error = getattr(instance, "load_error", None)
    return error if isinstance(error, str) else None


async def _send_json(
    send: Send,
    status: int,
    error: str,
    msg: str,
    loc: list[str | int],
    kind: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": error, "detail": [{"loc": loc, "msg": msg, "type": kind}]}).encode(
        "utf-8"
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + (extra_headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
