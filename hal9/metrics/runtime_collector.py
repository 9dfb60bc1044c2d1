"""Scrape-time state of a runtime: uptime, process memory, and each neuron's health, state and queue.

``collect()`` runs in the scrape's worker thread. It reads plain attributes and a
tuple snapshot of the neurons that the event loop replaces (never mutates), so it
needs no lock and never waits for the loop.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.metrics import families as fam

_DEFAULT_THREAD_STACK = 8 * 1024 * 1024


class _NeuronView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def layer(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def queue_size(self) -> int: ...


class _MetricsView(Protocol):
    @property
    def server_id(self) -> str: ...


class _RuntimeView(Protocol):
    @property
    def neuron_snapshot(self) -> Sequence[_NeuronView]: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def metrics(self) -> _MetricsView: ...


class ProcessMemory:
    """Resident set size and stack bytes of this process.

    Heap is the resident set size (everything the process holds in RAM). Stack is the
    main thread's stack (``VmStk`` on Linux) plus, for every other thread, the stack
    size a thread reserves (``threading.stack_size()`` or the ``RLIMIT_STACK`` default):
    reserved address space, an upper bound of what the threads' stacks take.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()

    def heap(self) -> int:
        return int(self._process.memory_info().rss)

    def stack(self) -> int:
        per_thread = threading.stack_size() or _rlimit_stack()
        return _main_stack() + max(int(self._process.num_threads()) - 1, 0) * per_thread


def _main_stack() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmStk:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rlimit_stack() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return soft if soft > 0 else _DEFAULT_THREAD_STACK


def _gauge(family: fam.Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, labels=family.labels)


class RuntimeCollector(Collector):
    """The System and Neuron families whose values are state, not events."""

    def __init__(self, runtime: _RuntimeView) -> None:
        self._runtime = runtime
        self._memory = ProcessMemory()

    def describe(self) -> Iterable[Metric]:
        # Names only, so registering does not run a full collect().
        return [
            _gauge(f)
            for f in (fam.SERVER_UPTIME, fam.SERVER_MEMORY, fam.NEURON_HEALTH, fam.NEURON_STATE, fam.NEURON_QUEUE)
        ]

    def collect(self) -> Iterable[Metric]:
        runtime = self._runtime
        server_id = runtime.metrics.server_id
        started = runtime.started_at

        uptime = _gauge(fam.SERVER_UPTIME)
        uptime.add_metric([server_id], time.monotonic() - started if started is not None else 0.0)
        memory = _gauge(fam.SERVER_MEMORY)
        memory.add_metric([server_id, "heap"], float(self._memory.heap()))
        memory.add_metric([server_id, "stack"], float(self._memory.stack()))

        health = _gauge(fam.NEURON_HEALTH)
        state = _gauge(fam.NEURON_STATE)
        queue = _gauge(fam.NEURON_QUEUE)
        for neuron in runtime.neuron_snapshot:
            health.add_metric([neuron.id, str(neuron.layer)], 1.0 if neuron.healthy else 0.0)
            current = str(neuron.state)
            for name in ("idle", "processing", "error"):
                state.add_metric([neuron.id, name], 1.0 if name == current else 0.0)
            queue.add_metric([neuron.id], float(neuron.queue_size))
        return [uptime, memory, health, state, queue]
