"""The one place where errors become HTTP answers; no handler here can fail.

Every error answer is JSON ``{"detail": ...}``: a message, or for a request that failed
validation (422) a list of ``{"type", "loc", "msg"}`` items, each with ``input`` (the
refused value) when that value can be echoed: it is valid JSON and short, and the route is
not under ``/api/v1/auth`` (passwords and tokens are never echoed). Answers are rendered
with :class:`~hal9.server.encoding.SafeJSONResponse`, so nothing they hold can turn one
into a 500.

Statuses: unknown ids 404, a request that has not finished 409, invalid input 422, busy
or stopping 503 with ``Retry-After``, auth errors by ``AUTH_STATUSES``, no entry neuron
on this server 421; anything else is a plain 500, logged. A 405 names every method of the
path in ``Allow`` (:mod:`hal9.server.methods`), and answers ``OPTIONS`` (which no route
declares, so the router refuses it) with 204 and that ``Allow``, without credentials: it
tells what the public description tells, as a CORS pre-flight request needs.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from hal9.errors import (
    AuthConflict,
    AuthError,
    AuthNotFound,
    AuthNotRunning,
    FeedbackTooEarly,
    InvalidAuthInput,
    InvalidFeedback,
    InvalidMemoryEntry,
    MailboxFull,
    MemoryNotRunning,
    NeuronNotFound,
    NeuronStopped,
    NoEntryNeuron,
    NotAuthenticated,
    PermissionDenied,
    RuntimeNotRunning,
    TooManyAttempts,
    TraceNotFound,
)
from hal9.server.encoding import SafeJSONResponse, scrub, unencodable
from hal9.server.methods import allowed_methods

log = structlog.get_logger("hal9.server")

#: Requests under this prefix carry passwords and tokens: their 422 answers do not echo the input.
AUTH_ROUTES_PREFIX = "/api/v1/auth"
#: A refused value longer than this as JSON is not echoed in a 422 (the client sent it; it knows it).
MAX_ECHO_CHARS = 200
#: Auth errors by status, most specific class first.
AUTH_STATUSES: tuple[tuple[type[AuthError], int], ...] = (
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (AuthNotFound, 404),
    (AuthConflict, 409),
    (InvalidAuthInput, 422),
    (TooManyAttempts, 429),
    (AuthNotRunning, 503),
)
#: Errors that mean "busy or stopping, retry later": 503 with Retry-After.
BUSY: tuple[type[Exception], ...] = (MailboxFull, NeuronStopped, RuntimeNotRunning, MemoryNotRunning)
#: Errors of an id nobody knows: 404.
MISSING: tuple[type[Exception], ...] = (TraceNotFound, NeuronNotFound)
#: Input a service refused after validation passed: 422 with the service's message.
REFUSED: tuple[type[Exception], ...] = (InvalidMemoryEntry, InvalidFeedback)


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Register the handlers of every error the API maps to a status."""
    busy_headers = {"Retry-After": str(retry_after)}

    async def busy(_request: Request, exc: Exception) -> Response:
        return SafeJSONResponse({"detail": str(exc)}, status_code=503, headers=busy_headers)

    async def not_found(_request: Request, exc: Exception) -> Response:
        return SafeJSONResponse({"detail": str(exc)}, status_code=404)

    async def conflict(_request: Request, exc: Exception) -> Response:
        return SafeJSONResponse({"detail": str(exc)}, status_code=409)

    async def refused(_request: Request, exc: Exception) -> Response:
        return SafeJSONResponse({"detail": str(exc)}, status_code=422)

    async def misdirected(_request: Request, exc: Exception) -> Response:
        # 421 Misdirected Request: this server cannot answer it, another server of the network can.
        return SafeJSONResponse({"detail": str(exc)}, status_code=421)

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("http.unhandled_error", path_template=getattr(request.scope.get("route"), "path", None), exc_info=exc)
        return SafeJSONResponse({"detail": "internal server error"}, status_code=500)

    async def auth_error(connection: HTTPConnection, exc: Exception) -> Response:
        # Auth messages never carry a secret (hal9.errors); a 401 names the scheme to use.
        status = next((code for kind, code in AUTH_STATUSES if isinstance(exc, kind)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        elif status == 503:
            headers.update(busy_headers)
        # For a websocket this is sent as the handshake's denial response (or a 403 close without the extension).
        return SafeJSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = exc.headers
        if exc.status_code == 405:
            # The router names the methods of the one route it tried; the path may have more.
            methods = allowed_methods(request.app, request.scope)
            if request.method == "OPTIONS":  # no route declares OPTIONS: this is its answer
                return Response(status_code=204, headers={"Allow": ", ".join([*methods, "OPTIONS"])})
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
        if not is_body_allowed_for_status_code(exc.status_code):
            return Response(status_code=exc.status_code, headers=headers)
        return SafeJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        echo = not request.scope["path"].startswith(AUTH_ROUTES_PREFIX)  # not request.url: a Host may not parse
        return SafeJSONResponse({"detail": [validation_item(error, echo) for error in exc.errors()]}, status_code=422)

    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    for kind in BUSY:
        app.add_exception_handler(kind, busy)
    for kind in MISSING:
        app.add_exception_handler(kind, not_found)
    for kind in REFUSED:
        app.add_exception_handler(kind, refused)
    app.add_exception_handler(FeedbackTooEarly, conflict)
    app.add_exception_handler(NoEntryNeuron, misdirected)
    app.add_exception_handler(Exception, internal)


def validation_item(error: Any, echo: bool) -> dict[str, Any]:
    """One item of a 422's ``detail``: type, location, message, the context's text and the input
    when it may and can be echoed. Whatever the error holds, the item can be encoded."""
    if not isinstance(error, dict):
        return {"type": "value_error", "loc": ["body"], "msg": str(scrub(error))}
    item: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
    }
    context = error.get("ctx")
    if isinstance(context, dict) and context:
        # Pydantic puts the exception a validator raised here: its text is what the client needs.
        item["ctx"] = {str(k): v if isinstance(v, str | int | float) else str(v) for k, v in context.items()}
    if echo and "input" in error and _echoable(error["input"]):
        item["input"] = error["input"]
    cleaned: dict[str, Any] = scrub(item)
    return cleaned


def _echoable(value: Any) -> bool:
    """Whether a refused value goes back in the answer: plain JSON, and short."""
    if unencodable(value) is not None:
        return False
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False)) <= MAX_ECHO_CHARS
    except (TypeError, ValueError, RecursionError):
        return False
