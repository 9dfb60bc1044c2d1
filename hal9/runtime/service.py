"""The base class of every pluggable service, with measurement built in."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

from anyio import AsyncContextManagerMixin
from prometheus_client import Counter, Histogram

from hal9.metrics import API_BUCKETS
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.runtime.runtime import Runtime
    from hal9.runtime.trace import TraceResult


@dataclass(frozen=True, slots=True)
class OperationMetrics:
    """Which counter and histogram a service's operations feed.

    The counter has the histogram's labels plus ``status`` (success or error), which
    is how every service family of the contract is shaped.
    """

    counter: fam.Family
    histogram: fam.Family
    buckets: tuple[float, ...] = API_BUCKETS


GENERIC_OPERATIONS = OperationMetrics(fam.SERVICE_OPERATIONS, fam.SERVICE_DURATION)

_ChildPair = tuple["Counter", "Counter", "Histogram"]


class Measurement:
    """Times one operation and records it on exit: success, or error if it raised."""

    __slots__ = ("_children", "_started")

    def __init__(self, children: _ChildPair) -> None:
        self._children = children
        self._started = 0.0

    def __enter__(self) -> Self:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        success, error, duration = self._children
        # A cancellation is neither a success nor the service's failure: it is not recorded,
        # so the histogram's count stays the sum of the two counters.
        if exc_type is None:
            success.inc()
        elif issubclass(exc_type, Exception):
            error.inc()
        else:
            return
        duration.observe(time.perf_counter() - self._started)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class Service(AsyncContextManagerMixin):
    """A pluggable service: the LLM, memory, tools, or a user's own.

    Subclasses implement their operations and wrap each in ``async with
    self.measure(operation="...")``; the counter and histogram named by
    ``operation_metrics`` are recorded with status success or error. A user's own
    service gets ``hal9_service_operations_total`` and its histogram, labelled with the
    service's ``name``.

    Its lifetime is one ``async with service:``, which the runtime enters for every service
    it was given (and a service used on its own is entered the same way). The hooks a
    subclass may override:

    - :meth:`__asynccontextmanager__`: acquire and release resources, run tasks of its own.
    - :meth:`from_config`: build it from the runtime's configuration.
    - :meth:`on_metrics_bound`: create metric families of its own beyond the operation pair.
    - :meth:`on_attached`, :meth:`on_neuron_removed`, :meth:`on_trace_finished`: hear of the
      runtime it is part of, of a neuron leaving it, and of a request ending.

    Neurons and other services find a service by what it provides, e.g.
    ``runtime.services.get(Memory)``, so a class that implements one of the protocols of
    :mod:`hal9` (:class:`~hal9.LLM`, :class:`~hal9.Memory`, :class:`~hal9.Tools`) is used as one.
    """

    name: ClassVar[str] = "service"
    operation_metrics: ClassVar[OperationMetrics] = GENERIC_OPERATIONS

    _metrics: MetricsRegistry | None = None
    _children: dict[tuple[str, ...], _ChildPair]

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """Build the service from the runtime's configuration (the composition root calls this)."""
        return cls()

    def bind_metrics(self, metrics: MetricsRegistry) -> None:
        """Attach to a runtime's registry; called by the runtime when it adds the service."""
        spec = self.operation_metrics
        self._metrics = metrics
        self._counter = metrics.counter(spec.counter.name, spec.counter.help, spec.counter.labels)
        self._histogram = metrics.histogram(
            spec.histogram.name, spec.histogram.help, spec.histogram.labels, spec.buckets
        )
        self._children = {}
        self.on_metrics_bound(metrics)

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        """Hook for families of the service's own beyond the operation pair."""

    @property
    def metrics(self) -> MetricsRegistry:
        """The registry this service records into (a private one until a runtime binds it)."""
        if self._metrics is None:
            self.bind_metrics(MetricsRegistry("unbound"))
        assert self._metrics is not None
        return self._metrics

    def measure(self, **labels: str) -> Measurement:
        """Measure one operation: ``async with self.measure(operation="store"):``.

        Label values must come from bounded sets (operation names, configured models),
        never from a request.
        """
        if self._metrics is None:
            self.bind_metrics(MetricsRegistry("unbound"))
        values = tuple(
            labels.get(name) or self._default_label(name) for name in self.operation_metrics.histogram.labels
        )
        children = self._children.get(values)
        if children is None:
            unknown = set(labels) - set(self.operation_metrics.histogram.labels)
            if unknown:
                raise ValueError(f"{type(self).__name__}.measure() got unknown labels {sorted(unknown)}")
            children = (
                self._counter.labels(*values, "success"),
                self._counter.labels(*values, "error"),
                self._histogram.labels(*values),
            )
            self._children[values] = children
        return Measurement(children)

    def _default_label(self, name: str) -> str:
        if name == "service":
            return self.name
        raise ValueError(f"{type(self).__name__}.measure() needs the label {name!r}")

    def on_neuron_removed(self, neuron_id: str) -> None:
        """Called when a neuron has left the runtime: drop series labelled with its id."""

    def on_attached(self, runtime: Runtime) -> None:
        """Called when a runtime adds this service (before it is entered): keep it to reach its neurons."""

    def on_trace_finished(self, result: TraceResult) -> None:
        """Called on the event loop when a request has ended, only for services that override it.

        It runs on the routing path of the signal that ended the request: keep it cheap and
        never block; start longer work in a task of the service's own. An exception is logged
        and does not fail the request.
        """

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """The service's lifetime, entered with ``async with service:`` (the runtime enters each of its services so).

        Override it, decorated with ``@asynccontextmanager``, to acquire resources before the
        ``yield`` and release them after it (in a ``finally``: the ``yield`` raises what the block
        raised). Tasks of the service's own run in a task group around the ``yield``. The base
        class's does nothing but bind a private metrics registry when no runtime has bound one.
        """
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        yield self
