"""Neurons: actors with a layer and one method to override, ``process()``."""

from __future__ import annotations

import time
from abc import abstractmethod
from bisect import bisect_left
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, Protocol

import structlog

from hal9.metrics.buckets import SIGNAL_BUCKETS
from hal9.metrics.neuron_stats import NeuronStats
from hal9.runtime.actor import Actor, ActorState
from hal9.runtime.events import EventBus
from hal9.runtime.layer import Layer
from hal9.runtime.learning import Learning
from hal9.runtime.llm import LLM
from hal9.runtime.memory import Memory, MemoryRecord
from hal9.runtime.signal import Signal, current_signal
from hal9.runtime.tools import Tools

log = structlog.get_logger("hal9.neuron")

PROCESSING, IDLE = ActorState.PROCESSING, ActorState.IDLE


class SignalRouter(Protocol):
    """Where a neuron hands each signal it has processed (:class:`hal9.runtime.routing.Router`)."""

    def forward(
        self, neuron: Neuron, signal: Signal, output: Any, started_at: float, elapsed: float
    ) -> Awaitable[None] | None:
        """``signal`` was processed into ``output``: deliver it downstream, or keep it as a result.

        Returns None when that is done, or an awaitable that finishes it (a mailbox was full).
        """
        ...

    def fail(self, neuron: Neuron, signal: Signal, exc: Exception, started_at: float, elapsed: float) -> None:
        """``signal`` failed: its branch ends with ``exc``."""
        ...

    def remember(self, neuron: Neuron, signal: Signal, output: Any, error: Exception | None) -> None:
        """Keep what ``neuron.memories`` gives for the signal, to store with the rest of its request."""
        ...


class NeuronHost(Protocol):
    """What a neuron needs of the runtime it runs in (:class:`hal9.Runtime` is one)."""

    @property
    def services(self) -> Mapping[str, Any]:
        """The services by name."""
        ...

    @property
    def events(self) -> EventBus:
        """Live observers of the network."""
        ...

    @property
    def router(self) -> SignalRouter:
        """Where processed signals go."""
        ...

    def service(self, name: str) -> Any:
        """The service called ``name``; raises ServiceUnavailable if there is none."""
        ...


class Neuron(Actor[Signal]):
    """A neuron of the hierarchy. Override :meth:`process`; the base class does the rest.

    What ``process`` returns is forwarded to every downstream neuron as a new signal
    (parent link kept): a list is fanned out as one signal per element, None ends the
    branch. At a neuron with no downstream, the return value becomes part of the
    trace's result. Raising fails this branch only; the neuron goes on with the next signal.

    Services the runtime was given are reachable as ``self.llm`` or ``self.service(name)``.

    A neuron works on up to ``concurrency`` signals at once (``process()`` is then entered
    again before an earlier call returns); ``concurrency = 1`` handles them one at a time,
    in order, for a neuron that keeps state between signals. The class attribute sets it
    for a class, the ``concurrency`` argument (or a config entry's ``concurrency``) for one
    neuron; where neither does (None), the runtime's ``runtime.neuron_concurrency`` applies. Its
    state is ``processing`` while any signal is in hand, and once none is, ``idle`` or
    ``error`` by how the last one ended.

    Example:
        >>> class Echo(Neuron):
        ...     layer = Layer.L2
        ...     async def process(self, signal: Signal) -> str:
        ...         return f"echo: {signal.content}"
    """

    layer: Layer = Layer.L2
    prompt: str = ""
    #: What :meth:`memories` keeps of a task or result, at most (the rest of a huge input is not worth it).
    remember_chars: ClassVar[int] = 4_000
    #: Labels of the neuron's state gauge, exported so the collector need not recompute them.
    states: ClassVar[tuple[ActorState, ...]] = tuple(ActorState)

    def __init__(
        self,
        id: str,  # noqa: A002 - the public name of the attribute it sets
        *,
        layer: Layer | str | None = None,
        prompt: str | None = None,
        mailbox_capacity: int = 64,
        restart_backoff: tuple[float, float] = (0.05, 5.0),
        concurrency: int | None = None,
    ) -> None:
        super().__init__(
            id, mailbox_capacity=mailbox_capacity, restart_backoff=restart_backoff, concurrency=concurrency
        )
        self._in_flight = 0
        if layer is not None:
            self.layer = Layer(layer)
        if prompt is not None:
            self.prompt = prompt
        self.stats = NeuronStats(self.id)
        self.downstream: tuple[Neuron, ...] = ()
        self._runtime: NeuronHost | None = None
        self._router: SignalRouter | None = None
        # Until attached, an event bus nobody listens to (the state gauge still works).
        self._events = EventBus()
        # The runtime's "memory" service, looked up once when the loop starts (services are
        # fixed by then); None keeps the hot path to one attribute test.
        self._memory: Memory | None = None

    @abstractmethod
    async def process(self, signal: Signal) -> Any:
        """Handle one signal; return a value, a list of values (fan-out) or None."""

    # -- services -----------------------------------------------------------------

    @property
    def runtime(self) -> NeuronHost:
        """The runtime this neuron is part of."""
        if self._runtime is None:
            raise RuntimeError(f"neuron {self.id!r} is not part of a runtime")
        return self._runtime

    def service(self, name: str) -> Any:
        """The runtime's service called ``name``; raises ServiceUnavailable if there is none."""
        return self.runtime.service(name)

    @property
    def llm(self) -> LLM:
        service: LLM = self.service("llm")
        return service

    @property
    def memory(self) -> Memory:
        """The runtime's memory service; raises ServiceUnavailable if it has none."""
        service: Memory = self.service("memory")
        return service

    @property
    def tools(self) -> Tools:
        """The runtime's tool service; raises ServiceUnavailable if it has none."""
        service: Tools = self.service("tools")
        return service

    def system_prompt(self) -> str:
        """The system prompt to send: :attr:`prompt`, plus the lessons the ``learning`` service keeps.

        Without a learning service it is :attr:`prompt` itself. Call it for each LLM call, so a
        lesson learned meanwhile (or rolled back) is in (or out of) the next one.
        """
        learning = self._runtime.services.get("learning") if self._runtime is not None else None
        return learning.system_prompt(self.id, self.prompt) if isinstance(learning, Learning) else self.prompt

    def note_failure(self, error: BaseException) -> None:
        """Report a failure this neuron recovered from in :meth:`process` (a refused tool call, say).

        The ``learning`` service learns from it as from a failed branch when the request ends;
        without one, or outside ``process()``, nothing happens.
        """
        signal = current_signal.get()
        learning = self._runtime.services.get("learning") if self._runtime is not None else None
        if signal is not None and isinstance(learning, Learning):
            learning.note_failure(signal, self.id, error)

    def memories(self, signal: Signal, output: Any, error: Exception | None) -> list[MemoryRecord]:
        """What a processed signal leaves behind for memory: its task, and its result or error.

        Called by the base class after each signal, only when the runtime has a ``memory``
        service. The records of a whole request are stored together, in one transaction, once
        its last signal has been routed; the request ends only when they are durable, so once
        it has finished (``ask()`` returned, a drain completed) its memories are all in the
        store. Override to keep something else, or nothing (return an empty list). A failure
        here is logged and does not fail the signal.
        """
        metadata = {"signal_id": signal.id, "trace_id": signal.trace_id, "parent_id": signal.parent_id}
        layer = self.layer.value
        records = [MemoryRecord(_text(signal.content, self.remember_chars), self.id, "task", layer, metadata)]
        if error is not None:
            text = _text(f"{type(error).__name__}: {error}", self.remember_chars)
            records.append(MemoryRecord(text, self.id, "error", layer, metadata, importance=0.7))
        elif output is not None:
            records.append(MemoryRecord(_text(output, self.remember_chars), self.id, "result", layer, metadata))
        return [record for record in records if record.content.strip()]

    # -- base-class machinery -------------------------------------------------------

    @property
    def processed(self) -> int:
        """Signals whose process() returned."""
        return self.stats.succeeded

    @property
    def failed(self) -> int:
        """Signals whose process() raised."""
        return self.stats.failed

    def _attach(self, runtime: NeuronHost) -> None:
        self._runtime = runtime
        self._router = runtime.router
        self._events = runtime.events

    def _attach_memory(self) -> None:
        memory = self._runtime.services.get("memory") if self._runtime is not None else None
        self._memory = memory if isinstance(memory, Memory) else None
        track = getattr(memory, "track_neuron", None)
        if callable(track):
            track(self.id)  # its entry count gets a series of its own

    def _set_state(self, state: ActorState) -> None:
        if state is not self.state:
            self.state = state
            if self._events.active:
                self._publish_state()

    def _publish_state(self) -> None:
        self._events.publish("neuron.state", neuron_id=self.id, state=self.state.value)

    async def run(self, **kwargs: Any) -> None:
        # Every log line of this task carries the neuron id.
        structlog.contextvars.bind_contextvars(neuron_id=self.id)
        self._attach_memory()
        await super().run(**kwargs)

    async def _handle(self, signal: Signal) -> None:
        router = self._router
        assert router is not None  # attached before its loop starts
        self._in_flight += 1
        if self._in_flight == 1 and self.state is not PROCESSING:
            self.state = PROCESSING  # _set_state(), inline: twice a signal
            if self._events.active:
                self._publish_state()
        token = current_signal.set(signal)
        started_at = time.time()
        started = time.perf_counter()
        try:
            output = await self.process(signal)
        except Exception as exc:  # noqa: BLE001 - a failing process() fails its branch, never the loop
            elapsed = time.perf_counter() - started
            self.stats.observe(elapsed)
            self.stats.failed += 1
            log.warning("signal.failed", error=type(exc).__name__, detail=str(exc)[:500])
            self._in_flight -= 1
            if self._in_flight == 0:
                self._set_state(ActorState.ERROR)  # shown before the failure ends the trace
            if self._memory is not None:
                router.remember(self, signal, None, exc)
            router.fail(self, signal, exc, started_at, elapsed)
            return
        finally:
            current_signal.reset(token)
        elapsed = time.perf_counter() - started
        stats = self.stats
        # stats.observe(), inline: once per hop.
        stats.duration_buckets[bisect_left(SIGNAL_BUCKETS, elapsed)] += 1
        stats.duration_sum += elapsed
        stats.succeeded += 1
        if self._memory is not None:
            router.remember(self, signal, output, None)
        # Still "processing" while forwarding: a neuron waiting on a full downstream
        # mailbox is busy, not idle. A crash in here is settled by _on_crash.
        waiting = router.forward(self, signal, output, started_at, elapsed)
        if waiting is not None:
            await waiting
        self._in_flight -= 1
        if self._in_flight == 0 and self.state is not IDLE:
            self.state = IDLE
            if self._events.active:
                self._publish_state()

    @property
    def in_flight(self) -> int:
        """Signals in hand: inside ``process()``, or being forwarded."""
        return self._in_flight

    def _on_crash(self, item: Signal, exc: Exception) -> None:
        # The signal in hand when routing it raised: it is no longer in flight, and it fails.
        self._in_flight = max(0, self._in_flight - 1)
        if self._router is not None:
            self._router.fail(self, item, exc, time.time(), 0.0)


def _text(value: Any, limit: int) -> str:
    """A value as text for memory: a fan-out list one item a line; cut to ``limit`` characters."""
    text = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return text[:limit]
