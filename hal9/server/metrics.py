"""HTTP metrics: requests and durations by route template, open connections and websockets."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hal9.metrics import API_BUCKETS, MetricsRegistry
from hal9.metrics import families as fam

#: Methods recorded by name; anything else a client invents is folded into "other".
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: The endpoint label of requests that matched no route: raw paths never become labels.
UNMATCHED = "unmatched"


class ConnectionCounts(Collector):
    """Open connections (HTTP requests in flight and websockets) and open websockets.

    Plain integers changed on the event loop and read at scrape time.
    """

    def __init__(self, server_id: str) -> None:
        self.server_id = server_id
        self.connections = 0
        self.websockets = 0

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        connections = GaugeMetricFamily(
            fam.SERVER_CONNECTIONS.name, fam.SERVER_CONNECTIONS.help, labels=fam.SERVER_CONNECTIONS.labels
        )
        connections.add_metric([self.server_id], float(self.connections))
        websockets = GaugeMetricFamily(fam.WEBSOCKET_CONNECTIONS.name, fam.WEBSOCKET_CONNECTIONS.help)
        websockets.add_metric([], float(self.websockets))
        return [connections, websockets]


class HTTPMetricsMiddleware:
    """Pure ASGI middleware: counts and times every request under its route template.

    The template is read from ``scope["route"]`` after routing (FastAPI sets it), so
    ``/api/v1/signals/abc`` is recorded as ``/api/v1/signals/{signal_id}``.
    """

    def __init__(self, app: ASGIApp, metrics: MetricsRegistry, counts: ConnectionCounts) -> None:
        self.app = app
        self.counts = counts
        self.requests = metrics.counter(fam.HTTP_REQUESTS.name, fam.HTTP_REQUESTS.help, fam.HTTP_REQUESTS.labels)
        self.duration = metrics.histogram(
            fam.HTTP_DURATION.name, fam.HTTP_DURATION.help, fam.HTTP_DURATION.labels, API_BUCKETS
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.counts.connections += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.counts.connections -= 1
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.counts.connections += 1
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.counts.connections -= 1
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            # The route's template without convertors ("/{entry_id:int}" is "/{entry_id}"), as OpenAPI names it.
            endpoint = getattr(scope.get("route"), "path_format", None) or UNMATCHED
            self.requests.labels(method, endpoint, str(status)).inc()
            self.duration.labels(method, endpoint).observe(time.perf_counter() - started)
