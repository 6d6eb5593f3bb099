"""One error schema for every answer the service gives, as its OpenAPI document declares.

BentoML and FastAPI answer schema errors in their own shapes: BentoML's 400 carries
pydantic's class name (``"1 validation error for ScoreRequestIODescriptor"``) and links
to pydantic's documentation, FastAPI's 422 echoes the input, an unknown route answers
plain text, and the published OpenAPI document declares a 400 whose ``detail`` is a
string. A client generated from the document broke on every error.

:func:`canonical_error` rewrites any error body into the service's own
:class:`~churnml.serving.schemas.ErrorResponse` (``error``: a stable sentence or code;
``detail``: a list of ``{loc, msg, type}``), and :func:`declare_errors` rewrites the
OpenAPI document so that each operation declares exactly the statuses it can answer,
all with that schema. The :class:`~churnml.serving.middleware.RequestGuard` applies
both to the responses on their way out.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"

#: Statuses each kind of operation may answer besides 2xx (see RequestGuard and the service).
_BODY_ERRORS = ("400", "401", "413", "415", "422", "500", "503")
_LOOKUP_ERRORS = {
    "/model": ("401", "500", "503"),
    "/customers/{customer_id}": ("401", "404", "422", "500", "503"),
    "/readyz": ("503",),
}
#: BentoML/FastAPI components replaced by ErrorResponse.
_FOREIGN_SCHEMAS = (
    "InvalidArgument",
    "NotFound",
    "InternalServerError",
    "HTTPValidationError",
    "ValidationError",
)


def _route(path: str) -> str:
    """The documented route of a request path (customer ids are not echoed)."""
    return "/customers/{customer_id}" if path.startswith("/customers/") else path


def _items(detail: list[Any]) -> list[dict[str, Any]]:
    """pydantic/FastAPI error entries reduced to ``{loc, msg, type}`` (no input, no URLs)."""
    items: list[dict[str, Any]] = []
    for entry in detail:
        if not isinstance(entry, dict):
            items.append({"loc": [], "msg": str(entry), "type": "invalid"})
            continue
        loc: list[str | int] = [x if isinstance(x, int) else str(x) for x in entry.get("loc") or []]
        items.append(
            {
                "loc": loc,
                "msg": str(entry.get("msg", "")),
                "type": str(entry.get("type", "invalid")),
            }
        )
    return items


def _is_canonical(body: Any) -> bool:
    """Already an ErrorResponse written by the service itself."""
    if not isinstance(body, dict) or set(body) != {"error", "detail"}:
        return False
    if not isinstance(body["error"], str) or " validation error" in body["error"]:
        return False
    detail = body["detail"]
    return isinstance(detail, list) and all(
        isinstance(d, dict) and set(d) == {"loc", "msg", "type"} for d in detail
    )


def canonical_error(status: int, method: str, path: str, body: bytes) -> bytes | None:
    """The error ``body`` in the service's schema, or ``None`` when it already is.

    Schema errors become ``"invalid request to POST /score"`` with one item per problem;
    anything else keeps its message as the single item, under the status's name.
    """
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if _is_canonical(parsed):
        return None
    request = f"{method} {_route(path)}"
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), list):
        error = f"invalid request to {request}"
        items = _items(parsed["detail"])
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            msg = parsed["error"]
            if isinstance(parsed.get("detail"), str) and parsed["detail"]:
                msg = f"{msg}: {parsed['detail']}"
        else:
            text = body.decode("utf-8", "replace").strip()
            msg = f"{phrase}: {request}" if not text or text == phrase else text[:500]
        error = code if status >= 500 else f"{code}: {request}"
        items = [{"loc": [], "msg": msg, "type": code}]
    return json.dumps({"error": error, "detail": items}).encode("utf-8")


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``document`` with every operation's error statuses declared as ErrorResponse."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = {
                code: spec for code, spec in operation["responses"].items() if code.startswith("2")
            }
            codes = _BODY_ERRORS if method.lower() == "post" else _LOOKUP_ERRORS.get(path, ())
            for code in codes:
                responses[code] = {
                    "description": HTTPStatus(int(code)).phrase,
                    "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
                }
            operation["responses"] = responses
            if "requestBody" in operation:  # every body-taking endpoint needs its body
                operation["requestBody"]["required"] = True
    schemas = document.get("components", {}).get("schemas", {})
    text = json.dumps(document.get("paths", {}))
    for name in _FOREIGN_SCHEMAS:
        if f"#/components/schemas/{name}" not in text and name in schemas:
            del schemas[name]
    return document
