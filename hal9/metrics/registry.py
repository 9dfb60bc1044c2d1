"""A runtime's own metric registry: get-or-create families, and an exposition without ``_created``."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio.lowlevel
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

W = TypeVar("W", bound=MetricWrapperBase)


class MetricsRegistry:
    """Owns one ``CollectorRegistry`` (never prometheus_client's global one).

    Families are created on first request and shared afterwards, so two services that
    feed the same family (say, two LLM services) get the same object instead of a
    duplicate-registration error.
    """

    def __init__(self, server_id: str) -> None:
        self.server_id = server_id
        self.registry = CollectorRegistry(auto_describe=True)
        self._families: dict[str, MetricWrapperBase] = {}
        # What render() formats with prometheus_client, and the collectors that write their
        # own text (``exposition()``): every registration goes through this class.
        self._formatted: list[Collector] = []
        self._self_rendering: list[_SelfRendering] = []
        self._lock = threading.Lock()

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """The counter family ``name`` (give it without the ``_total`` suffix)."""
        return self._get_or_create(Counter, name, documentation, labelnames)

    def histogram(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        """The histogram family ``name`` with the given bucket upper bounds."""
        return self._get_or_create(Histogram, name, documentation, labelnames, buckets=tuple(buckets))

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        """A gauge fed by events (state read at scrape time belongs in a collector instead)."""
        return self._get_or_create(Gauge, name, documentation, labelnames)

    def _get_or_create(
        self,
        kind: type[W],
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        **kwargs: Any,
    ) -> W:
        with self._lock:
            existing = self._families.get(name)
            if existing is not None:
                if not isinstance(existing, kind) or tuple(existing._labelnames) != tuple(labelnames):
                    raise ValueError(f"metric {name} already exists with another type or label set")
                return existing
            family = kind(name, documentation, labelnames=tuple(labelnames), registry=self.registry, **kwargs)
            self._families[name] = family
            self._formatted.append(family)
            return family

    def register(self, collector: Collector) -> None:
        """Add a scrape-time collector; one with ``exposition_parts()`` writes its own text."""
        self.registry.register(collector)
        with self._lock:
            if isinstance(collector, _SelfRendering):
                self._self_rendering.append(collector)
            else:
                self._formatted.append(collector)

    def render(self) -> bytes:
        """The text exposition, without the ``_created`` series prometheus_client would add.

        Synchronous, and safe to call from a worker thread; the server uses :meth:`render_async`.
        """
        with self._lock:
            formatted, self_rendering = tuple(self._formatted), tuple(self._self_rendering)
        text = generate_latest(_WithoutCreated(formatted))
        return text + "".join(part for c in self_rendering for part in c.exposition_parts()).encode("utf-8")

    async def render_async(self) -> bytes:
        """The same exposition, rendered on the event loop in pieces with a checkpoint between.

        This is how the server scrapes. Not in a worker thread: under load a rendering thread
        gets little of the GIL, so a scrape takes far longer and still slows the loop; short
        pieces on the loop cost the loop only their own work.
        """
        with self._lock:
            formatted, self_rendering = tuple(self._formatted), tuple(self._self_rendering)
        parts = [generate_latest(_WithoutCreated(formatted))]
        for collector in self_rendering:
            for part in collector.exposition_parts():
                parts.append(part.encode("utf-8"))
                await anyio.lowlevel.checkpoint()
        return b"".join(parts)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's value, or None: a convenience for tests and the API."""
        return self.registry.get_sample_value(name, labels or {})


@runtime_checkable
class _SelfRendering(Protocol):
    def exposition_parts(self) -> Iterator[str]: ...


class _WithoutCreated:
    """A registry view over some collectors that drops ``*_created`` samples.

    ``prometheus_client.disable_created_metrics()`` would do it too, but flips a
    process-wide switch that would change every other registry in the user's process.
    """

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for metric in (m for c in self._collectors for m in c.collect()):
            if metric.type in ("counter", "histogram", "summary", "gaugehistogram"):
                metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric
