"""Scrape-time exposition of a runtime: uptime, process memory, and every neuron's series.

The per-neuron families (health, state, queue, processed, duration, forwarded) are
most of a scrape: 19 samples a neuron. prometheus_client builds a Metric and a Sample
object per sample and checks and escapes every label; :meth:`RuntimeCollector.exposition`
writes the same text directly from values the base classes keep current, with label
values escaped once per neuron.

``collect()`` (what ``registry.get_sample_value`` and other collectors' users see) is the
same text parsed back, so the two cannot disagree.

The server runs them on the event loop, in pieces; ``MetricsRegistry.render`` may run
them in another thread. Either way they read plain attributes and a tuple snapshot of
the neurons that the event loop replaces (never mutates): no lock, no waiting.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from hal9.metrics import families as fam
from hal9.metrics.buckets import SIGNAL_BUCKETS
from hal9.metrics.neuron_stats import NeuronStats, escape_label

_DEFAULT_THREAD_STACK = 8 * 1024 * 1024
_STATES = ("idle", "processing", "error")
# Bucket bounds written as prometheus_client writes them ("0.001", "1.0"), so both agree.
#: Neurons per piece of :meth:`RuntimeCollector.exposition_parts`: a short stretch of work on the event loop.
CHUNK = 100
_LE = [floatToGoString(bound) for bound in SIGNAL_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]


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
    @property
    def stats(self) -> NeuronStats: ...


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


def _header(family: fam.Family, kind: str, suffix: str = "") -> str:
    help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
    name = family.name + suffix
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


class RuntimeCollector(Collector):
    """The System and Neuron families that the runtime itself exposes."""

    def __init__(self, runtime: _RuntimeView) -> None:
        self._runtime = runtime
        self._memory = ProcessMemory()

    def describe(self) -> Iterable[Metric]:
        # Names and types only, so registering does not render anything.
        return [
            GaugeMetricFamily(fam.SERVER_UPTIME.name, fam.SERVER_UPTIME.help),
            GaugeMetricFamily(fam.SERVER_MEMORY.name, fam.SERVER_MEMORY.help),
            GaugeMetricFamily(fam.NEURON_HEALTH.name, fam.NEURON_HEALTH.help),
            GaugeMetricFamily(fam.NEURON_STATE.name, fam.NEURON_STATE.help),
            GaugeMetricFamily(fam.NEURON_QUEUE.name, fam.NEURON_QUEUE.help),
            CounterMetricFamily(fam.SIGNALS_PROCESSED.name, fam.SIGNALS_PROCESSED.help),
            HistogramMetricFamily(fam.SIGNAL_DURATION.name, fam.SIGNAL_DURATION.help),
            CounterMetricFamily(fam.SIGNALS_FORWARDED.name, fam.SIGNALS_FORWARDED.help),
        ]

    def collect(self) -> Iterable[Metric]:
        return list(text_string_to_metric_families(self.exposition().decode("utf-8")))

    def exposition(self) -> bytes:
        """The text exposition of these families (format 0.0.4, as prometheus_client writes it)."""
        return "".join(self.exposition_parts()).encode("utf-8")

    def exposition_parts(self) -> Iterator[str]:
        """The exposition in pieces of at most ``CHUNK`` neurons' lines of one family.

        Rendering on the event loop (the server's way) yields between pieces, so neurons
        keep running during a scrape of any size.
        """
        runtime = self._runtime
        server = escape_label(runtime.metrics.server_id)
        started = runtime.started_at
        uptime = time.monotonic() - started if started is not None else 0.0
        memory = fam.SERVER_MEMORY.name
        yield (
            _header(fam.SERVER_UPTIME, "gauge")
            + f'{fam.SERVER_UPTIME.name}{{server_id="{server}"}} {uptime!r}\n'
            + _header(fam.SERVER_MEMORY, "gauge")
            + f'{memory}{{server_id="{server}",type="heap"}} {float(self._memory.heap())!r}\n'
            + f'{memory}{{server_id="{server}",type="stack"}} {float(self._memory.stack())!r}\n'
        )
        # Each neuron's values are read once, then written under every family.
        rows = [(n.stats, str(n.layer), n.healthy, str(n.state), n.queue_size) for n in runtime.neuron_snapshot]
        for family, kind, suffix, lines in _NEURON_FAMILIES:
            yield _header(family, kind, suffix)
            for first in range(0, len(rows), CHUNK):
                yield "".join(line for row in rows[first : first + CHUNK] for line in lines(row))


_Row = tuple[NeuronStats, str, bool, str, int]


def _health(row: _Row) -> Iterator[str]:
    stats, layer, healthy, _, _ = row
    yield f'{fam.NEURON_HEALTH.name}{{neuron_id="{stats.label}",layer="{layer}"}} {1.0 if healthy else 0.0}\n'


def _state(row: _Row) -> Iterator[str]:
    stats, _, _, state, _ = row
    for each in _STATES:
        yield f'{fam.NEURON_STATE.name}{{neuron_id="{stats.label}",state="{each}"}} {1.0 if each == state else 0.0}\n'


def _queue(row: _Row) -> Iterator[str]:
    stats, _, _, _, queue = row
    yield f'{fam.NEURON_QUEUE.name}{{neuron_id="{stats.label}"}} {float(queue)}\n'


def _processed(row: _Row) -> Iterator[str]:
    stats, layer, _, _, _ = row
    name = fam.SIGNALS_PROCESSED.name
    yield f'{name}_total{{neuron_id="{stats.label}",layer="{layer}",status="success"}} {float(stats.succeeded)}\n'
    yield f'{name}_total{{neuron_id="{stats.label}",layer="{layer}",status="error"}} {float(stats.failed)}\n'


def _duration(row: _Row) -> Iterator[str]:
    stats, layer, _, _, _ = row
    name = fam.SIGNAL_DURATION.name
    labels = f'neuron_id="{stats.label}",layer="{layer}"'
    # The sum first: the loop adds to the buckets first, so the sum never runs ahead of them.
    duration_sum = stats.duration_sum
    total = 0
    for le, count in zip(_LE, list(stats.duration_buckets), strict=True):
        total += count
        yield f'{name}_bucket{{{labels},le="{le}"}} {float(total)}\n'
    yield f"{name}_count{{{labels}}} {float(total)}\n"
    yield f"{name}_sum{{{labels}}} {duration_sum!r}\n"


def _forwarded(row: _Row) -> Iterator[str]:
    stats = row[0]
    name = fam.SIGNALS_FORWARDED.name
    # list(): one C-level copy, safe while the loop adds a connection.
    for target, count in list(stats.forwarded.items()):
        yield f'{name}_total{{from_neuron="{stats.label}",to_neuron="{escape_label(target)}"}} {float(count)}\n'


_NEURON_FAMILIES: tuple[tuple[fam.Family, str, str, Callable[[_Row], Iterator[str]]], ...] = (
    (fam.NEURON_HEALTH, "gauge", "", _health),
    (fam.NEURON_STATE, "gauge", "", _state),
    (fam.NEURON_QUEUE, "gauge", "", _queue),
    (fam.SIGNALS_PROCESSED, "counter", "_total", _processed),
    (fam.SIGNAL_DURATION, "histogram", "", _duration),
    (fam.SIGNALS_FORWARDED, "counter", "_total", _forwarded),
)
