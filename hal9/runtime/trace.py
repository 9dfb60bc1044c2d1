"""Traces: one request's branches, its result, and the path it took through the neurons."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import anyio

from hal9.errors import TraceNotFound
from hal9.layer import Layer
from hal9.runtime.memory import MemoryRecord

TraceStatus = Literal["pending", "completed", "partial", "failed"]


class Hop(NamedTuple):
    """One signal processed by one neuron.

    A named tuple rather than a frozen dataclass: one is built per hop, and a tuple is much cheaper to build.
    """

    signal_id: str
    parent_id: str | None
    neuron_id: str
    layer: Layer
    status: Literal["success", "error"]
    started_at: float
    duration: float


def hop_fields(hop: Hop) -> dict[str, Any]:
    """A hop as the fields of a ``signal.processed`` event (JSON-ready: the layer as its value)."""
    return {
        "signal_id": hop.signal_id,
        "parent_id": hop.parent_id,
        "neuron_id": hop.neuron_id,
        "layer": hop.layer.value,
        "status": hop.status,
        "started_at": hop.started_at,
        "duration": hop.duration,
    }


@dataclass(frozen=True, slots=True)
class BranchError:
    """Why one branch of a trace ended without a result."""

    neuron_id: str
    signal_id: str
    error: str
    message: str


@dataclass(frozen=True, slots=True)
class TraceResult:
    """The outcome of a request, returned by :meth:`Runtime.ask`.

    Attributes:
        id: the request's trace id (what :meth:`Runtime.submit` returned; its first signal's id too).
        status: ``completed`` (every branch produced its result), ``partial`` (some
            branches failed), ``failed`` (no branch produced a result and at least one failed).
        outputs: what the last-layer neurons returned, in completion order.
        errors: one entry per failed branch.
        path: the hops, in processing order (bounded by ``runtime.max_path_hops``).
        path_dropped: hops beyond that bound, counted but not recorded.
        created_at: wall-clock time the request was accepted.
        finished_at: wall-clock time its last branch ended; None while pending.
    """

    id: str
    status: TraceStatus
    outputs: tuple[Any, ...]
    errors: tuple[BranchError, ...]
    path: tuple[Hop, ...]
    path_dropped: int
    created_at: float
    finished_at: float | None

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def duration(self) -> float | None:
        """Seconds from acceptance to the end of the last branch; None while pending."""
        return None if self.finished_at is None else self.finished_at - self.created_at


@dataclass(slots=True, eq=False)
class Trace:
    """Mutable bookkeeping of a request while its branches run (event-loop only)."""

    id: str
    content: Any
    max_hops: int
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    # Signals of this trace accepted into a mailbox and not yet fully routed.
    pending: int = 0
    outputs: list[Any] = field(default_factory=list)
    errors: list[BranchError] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    hops_dropped: int = 0
    done: anyio.Event = field(default_factory=anyio.Event)
    # What its neurons left for memory, stored together (see hal9.runtime.routing.Router.remember).
    memories: list[MemoryRecord] = field(default_factory=list)

    @property
    def status(self) -> TraceStatus:
        if self.finished_at is None:
            return "pending"
        if not self.errors:
            return "completed"
        return "partial" if self.outputs else "failed"

    def record(self, hop: Hop) -> None:
        if len(self.hops) < self.max_hops:
            self.hops.append(hop)
        else:
            self.hops_dropped += 1

    def result(self) -> TraceResult:
        return TraceResult(
            id=self.id,
            status=self.status,
            outputs=tuple(self.outputs),
            errors=tuple(self.errors),
            path=tuple(self.hops),
            path_dropped=self.hops_dropped,
            created_at=self.created_at,
            finished_at=self.finished_at,
        )


class TraceStore:
    """Active traces, plus a bounded history of finished ones (oldest evicted first)."""

    def __init__(self, max_finished: int, max_hops: int) -> None:
        self.max_finished = max_finished
        self.max_hops = max_hops
        self.active: dict[str, Trace] = {}
        self._finished: OrderedDict[str, Trace] = OrderedDict()

    def open(self, trace_id: str, content: Any) -> Trace:
        trace = Trace(trace_id, content, self.max_hops)
        self.active[trace_id] = trace
        return trace

    def close(self, trace: Trace) -> None:
        trace.finished_at = time.time()
        self.active.pop(trace.id, None)
        self._finished[trace.id] = trace
        while len(self._finished) > self.max_finished:
            self._finished.popitem(last=False)
        trace.done.set()

    def get(self, trace_id: str) -> Trace:
        trace = self.active.get(trace_id) or self._finished.get(trace_id)
        if trace is None:
            raise TraceNotFound(trace_id)
        return trace
