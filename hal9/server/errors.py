"""The one place where runtime errors become HTTP answers."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from hal9.auth.errors import (
    AuthConflict,
    AuthError,
    AuthNotFound,
    AuthNotRunning,
    InvalidAuthInput,
    NotAuthenticated,
    PermissionDenied,
    TooManyAttempts,
)
from hal9.errors import MailboxFull, NeuronNotFound, NeuronStopped, NoEntryNeuron, RuntimeNotRunning, TraceNotFound

log = structlog.get_logger("hal9.server")

#: Requests under this prefix carry passwords and tokens: their 422 answers do not echo the input.
AUTH_ROUTES_PREFIX = "/api/v1/auth"
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


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Map HAL9 errors to statuses: busy -> 503 with Retry-After, unknown ids -> 404, auth errors by
    ``AUTH_STATUSES`` (429 with Retry-After), else 500."""
    busy_headers = {"Retry-After": str(retry_after)}

    async def busy(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=busy_headers)

    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled_error", path_template=getattr(request.scope.get("route"), "path", None), exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    async def auth_error(connection: HTTPConnection, exc: Exception) -> JSONResponse:
        # Auth messages never carry a secret (hal9.auth.errors); a 401 names the scheme to use.
        status = next((code for kind, code in AUTH_STATUSES if isinstance(exc, kind)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        # For a websocket this is sent as the handshake's denial response (or a 403 close without the extension).
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(AUTH_ROUTES_PREFIX):
            return await request_validation_exception_handler(request, exc)
        # FastAPI echoes the invalid value ("input"): here that can be a password or a token.
        errors = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for busy_error in (MailboxFull, NeuronStopped, RuntimeNotRunning):
        app.add_exception_handler(busy_error, busy)
    for missing in (TraceNotFound, NeuronNotFound):
        app.add_exception_handler(missing, not_found)

    async def misdirected(_request: Request, exc: Exception) -> JSONResponse:
        # 421 Misdirected Request: this server cannot answer it, another server of the network can.
        return JSONResponse({"detail": str(exc)}, status_code=421)

    app.add_exception_handler(NoEntryNeuron, misdirected)
    app.add_exception_handler(Exception, internal)
