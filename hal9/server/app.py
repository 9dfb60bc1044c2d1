"""The ASGI application: routes, error mapping and metrics around a running :class:`Runtime`."""

from __future__ import annotations

from fastapi import FastAPI

import hal9
from hal9.runtime.runtime import Runtime
from hal9.server import llm, memory, network, neurons, signals, system, websocket
from hal9.server.errors import install_error_handlers
from hal9.server.metrics import ConnectionCounts, HTTPMetricsMiddleware


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app for a runtime; start the runtime yourself (``async with runtime``).

    One app per runtime: the app registers its HTTP metrics in the runtime's registry.
    """
    app = FastAPI(
        title="HAL9",
        version=hal9.__version__,
        description="A runtime for hierarchical networks of AI neurons",
        # Refuse oversized bodies (413) while reading them, not after buffering them whole:
        # JSON escapes take up to 6 bytes a character, plus room for the rest of the body.
        max_body_size=runtime.config.server.max_content_chars * 6 + 4096,
    )
    app.state.runtime = runtime
    counts = ConnectionCounts(runtime.metrics.server_id)
    runtime.metrics.register(counts)
    app.state.connection_counts = counts
    for module in (system, signals, neurons, llm, memory, network, websocket):
        app.include_router(module.router)
    install_error_handlers(app, retry_after=runtime.config.server.retry_after_seconds)
    app.add_middleware(HTTPMetricsMiddleware, metrics=runtime.metrics, counts=counts)
    return app
