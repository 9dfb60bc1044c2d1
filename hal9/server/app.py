"""The ASGI application: routes, error mapping and metrics around a running :class:`Runtime`."""

from __future__ import annotations

from fastapi import FastAPI

import hal9
from hal9.auth import AuthService, Permission
from hal9.errors import ConfigError
from hal9.memory.rows import MAX_METADATA_CHARS
from hal9.runtime.runtime import Runtime
from hal9.server import (
    auth_routes,
    learning,
    llm,
    memory,
    network,
    neurons,
    signal_events,
    signals,
    system,
    websocket,
)
from hal9.server.auth import check_gated, require
from hal9.server.body import check_json_routes
from hal9.server.errors import install_error_handlers
from hal9.server.metrics import ConnectionCounts, HTTPMetricsMiddleware
from hal9.server.openapi import install_openapi
from hal9.server.plain_errors import JSONErrorBodies

#: Bytes JSON may take for one character: an escaped surrogate pair (``\ud83d\ude00``) is 12.
MAX_BYTES_PER_CHAR = 12
#: Room in a body for what is not its long text (field names, the other fields).
BODY_OVERHEAD = 4096


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app for a runtime; start the runtime yourself (``async with runtime``).

    One app per runtime: the app registers its HTTP metrics in the runtime's registry.

    Raises:
        ConfigError: auth is enabled but the runtime has no :class:`~hal9.auth.AuthService`.
    """
    app = FastAPI(
        title="HAL9", version=hal9.__version__, description="A runtime for hierarchical networks of AI neurons"
    )
    app.state.runtime = runtime
    app.state.auth = _auth_service(runtime)
    counts = ConnectionCounts(runtime.metrics.server_id)
    runtime.metrics.register(counts)
    app.state.connection_counts = counts
    # Each router with the permission its reads (and writes) need; see hal9.server.auth. A router
    # whose routes read a body refuses an oversized one (413) while reading it, not after buffering it
    # whole: per router, since a limit of the app's would answer outside the error handlers (in plain text).
    bodies = body_limit(runtime.config.server.max_content_chars)
    app.include_router(system.router)  # /health and /ready are open; /metrics has its own token
    app.include_router(
        signals.router,
        dependencies=[require(Permission.SIGNALS_READ, write=Permission.SIGNALS_WRITE)],
        max_body_size=bodies,
    )
    app.include_router(neurons.router, dependencies=[require(Permission.NEURONS_READ, write=Permission.NEURONS_WRITE)])
    app.include_router(llm.router, dependencies=[require(Permission.LLM_READ)])
    app.include_router(
        memory.router,
        dependencies=[require(Permission.MEMORY_READ, write=Permission.MEMORY_WRITE)],
        max_body_size=body_limit(runtime.config.memory.max_content_chars + MAX_METADATA_CHARS),
    )
    app.include_router(
        learning.router,
        dependencies=[require(Permission.LEARNING_READ, write=Permission.LEARNING_WRITE)],
        max_body_size=bodies,
    )
    app.include_router(websocket.router, dependencies=[require(Permission.EVENTS_READ)])
    # A request's events as Server-Sent Events: the /ws events of one trace, so gated like /ws.
    app.include_router(signal_events.router, dependencies=[require(Permission.EVENTS_READ)])
    app.include_router(network.router, dependencies=[require(Permission.NETWORK_READ)])
    app.include_router(auth_routes.router, max_body_size=bodies)  # gated route by route: login and refresh are public
    check_gated(app)
    check_json_routes(app)
    install_error_handlers(app, retry_after=runtime.config.server.retry_after_seconds)
    install_openapi(app, runtime.config)
    app.add_middleware(JSONErrorBodies)
    app.add_middleware(HTTPMetricsMiddleware, metrics=runtime.metrics, counts=counts)
    return app


def body_limit(chars: int) -> int:
    """The most bytes a request body may have when it carries up to ``chars`` characters of text.

    Any text within the described lengths fits, however the client escapes it: JSON takes up
    to ``MAX_BYTES_PER_CHAR`` bytes for a character.
    """
    return chars * MAX_BYTES_PER_CHAR + BODY_OVERHEAD


def _auth_service(runtime: Runtime) -> AuthService | None:
    """The runtime's auth service, or None when auth is disabled; auth on without one fails closed."""
    if not runtime.config.auth.enabled:
        return None
    service = runtime.services.get(AuthService)
    if service is None:
        raise ConfigError(
            "auth is enabled but the runtime has no auth service: build it with "
            "Runtime(config, services=hal9.auth.auth_services(config)), or set [auth] enabled = false "
            "(accepted only by a server bound to a loopback address)"
        )
    return service
