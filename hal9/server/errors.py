"""The one place where runtime errors become HTTP answers."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hal9.errors import MailboxFull, NeuronNotFound, NeuronStopped, NoEntryNeuron, RuntimeNotRunning, TraceNotFound

log = structlog.get_logger("hal9.server")


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Map HAL9 errors to statuses: busy -> 503 with Retry-After, unknown ids -> 404, else 500."""
    busy_headers = {"Retry-After": str(retry_after)}

    async def busy(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=busy_headers)

    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled_error", path_template=getattr(request.scope.get("route"), "path", None), exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    for busy_error in (MailboxFull, NeuronStopped, RuntimeNotRunning):
        app.add_exception_handler(busy_error, busy)
    for missing in (TraceNotFound, NeuronNotFound):
        app.add_exception_handler(missing, not_found)

    async def misdirected(_request: Request, exc: Exception) -> JSONResponse:
        # 421 Misdirected Request: this server cannot answer it, another server of the network can.
        return JSONResponse({"detail": str(exc)}, status_code=421)

    app.add_exception_handler(NoEntryNeuron, misdirected)
    app.add_exception_handler(Exception, internal)
