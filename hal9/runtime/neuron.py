"""Neurons: a layer, a prompt and one method to override, ``process()``; the base class runs them as actors."""

from __future__ import annotations

import dis
import time
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.layer import Layer
from hal9.metrics.buckets import SIGNAL_BUCKETS
from hal9.metrics.neuron_stats import NeuronStats
from hal9.runtime.actor import Actor, ActorState
from hal9.runtime.events import EventBus
from hal9.runtime.learning import Learning
from hal9.runtime.llm import LLM
from hal9.runtime.mailbox import Mailbox
from hal9.runtime.memory import Memory, MemoryRecord
from hal9.runtime.signal import Signal, current_signal
from hal9.runtime.tools import Tools

if TYPE_CHECKING:
    from hal9.runtime.services import Services

T = TypeVar("T")

log = structlog.get_logger("hal9.neuron")

PROCESSING, IDLE = ActorState.PROCESSING, ActorState.IDLE


class SignalRouter(Protocol):
    """Where a neuron hands each signal it has processed (:class:`hal9.runtime.routing.Router`)."""

    def forward(
        self, neuron: NeuronActor, signal: Signal, output: Any, started_at: float, elapsed: float
    ) -> Awaitable[None] | None:
        """``signal`` was processed into ``output``: deliver it downstream, or keep it as a result.

        Returns None when that is done, or an awaitable that finishes it (a mailbox was full).
        """
        ...

    def fail(self, neuron: NeuronActor, signal: Signal, exc: Exception, started_at: float, elapsed: float) -> None:
        """``signal`` failed: its branch ends with ``exc``."""
        ...

    def remember(self, neuron: NeuronActor, signal: Signal, output: Any, error: Exception | None) -> None:
        """Keep what ``neuron.neuron.memories()`` gives for the signal, to store with the rest of its request."""
        ...


class NeuronHost(Protocol):
    """What a neuron needs of the runtime it runs in (:class:`hal9.Runtime` is one)."""

    @property
    def services(self) -> Services:
        """The services: ``services.get(Memory)``, ``services.require(LLM)``, ``services["name"]``."""
        ...

    @property
    def events(self) -> EventBus:
        """Live observers of the network."""
        ...

    @property
    def router(self) -> SignalRouter:
        """Where processed signals go."""
        ...


class Neuron(ABC):
    """A neuron of the hierarchy. Override :meth:`process`; the base class does the rest.

    What ``process`` returns is forwarded to every downstream neuron as a new signal
    (parent link kept): a list is fanned out as one signal per element, None ends the
    branch. At a neuron with no downstream, the return value becomes part of the
    trace's result. Raising fails this branch only; the neuron goes on with the next signal.

    A neuron works on up to ``concurrency`` signals at once (``process()`` is then entered
    again before an earlier call returns); ``concurrency = 1`` handles them one at a time,
    in order, for a neuron that keeps state between signals.

    The API of a subclass:

    - Set, as class attributes or constructor arguments: :attr:`layer`, :attr:`prompt`,
      :attr:`concurrency` (None: the runtime's ``runtime.neuron_concurrency``) and
      :attr:`remember_chars`.
    - Override: :meth:`process` (required) and :meth:`memories` (what a signal leaves in memory).
    - Use: :attr:`id`, :attr:`llm`, :attr:`memory`, :attr:`tools`, :meth:`service`,
      :attr:`runtime`, :meth:`system_prompt`, :meth:`note_failure` and :attr:`status`.

    Every other attribute name is the subclass's own: the base class keeps its state in one
    private attribute (``_hal9``), so ``self.state``, ``self.stats`` or ``self.mailbox`` of a
    subclass are its own. A subclass that defines or assigns a name of the third list (or
    ``_hal9``) is refused when the class is created, with a message naming it.

    Example:
        >>> class Echo(Neuron):
        ...     layer = Layer.L2
        ...     async def process(self, signal: Signal) -> str:
        ...         return f"echo: {signal.content}"
    """

    #: The neuron's layer (its metric label too); read when the neuron joins a runtime.
    layer: Layer = Layer.L2
    #: The neuron's own system prompt (see :meth:`system_prompt`).
    prompt: str = ""
    #: Signals handled at once (None: the runtime's ``runtime.neuron_concurrency``); read when it joins a runtime.
    concurrency: int | None = None
    #: What :meth:`memories` keeps of a task or result, at most (the rest of a huge input is not worth it).
    remember_chars: ClassVar[int] = 4_000

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
        if layer is not None:
            self.layer = Layer(layer)
        if prompt is not None:
            self.prompt = prompt
        if concurrency is not None:
            self.concurrency = concurrency
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        self._hal9 = NeuronActor(self, id, mailbox_capacity=mailbox_capacity, restart_backoff=restart_backoff)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_collisions(cls)

    @abstractmethod
    async def process(self, signal: Signal) -> Any:
        """Handle one signal; return a value, a list of values (fan-out) or None."""

    def memories(self, signal: Signal, output: Any, error: Exception | None) -> list[MemoryRecord]:
        """What a processed signal leaves behind for memory: its result or error, and its task.

        The task of a signal forwarded by another neuron is left out when the signal has a
        result: it is that neuron's output, which its own ``result`` entry holds already (storing
        it twice doubled the store and the index, and put the same text twice in recalled
        prompts). The task is kept for a request's first signal, and beside an error or when
        there is no result, where it is the only record of what was asked.

        Called by the base class after each signal, only when the runtime has a memory
        service. The records of a whole request are stored together, in one transaction, once
        its last signal has been routed; the request ends only when they are durable, so once
        it has finished (``ask()`` returned, a drain completed) its memories are all in the
        store. Override to keep something else, or nothing (return an empty list). A failure
        here is logged and does not fail the signal.
        """
        metadata = {"signal_id": signal.id, "trace_id": signal.trace_id, "parent_id": signal.parent_id}
        layer = self.layer.value
        records = []
        if signal.parent_id is None or error is not None or output is None:
            records.append(MemoryRecord(_text(signal.content, self.remember_chars), self.id, "task", layer, metadata))
        if error is not None:
            text = _text(f"{type(error).__name__}: {error}", self.remember_chars)
            records.append(MemoryRecord(text, self.id, "error", layer, metadata, importance=0.7))
        elif output is not None:
            records.append(MemoryRecord(_text(output, self.remember_chars), self.id, "result", layer, metadata))
        return [record for record in records if record.content.strip()]

    # -- what a subclass uses -------------------------------------------------------------

    @property
    def id(self) -> str:
        """The neuron's id, unique in its runtime (fixed at creation)."""
        return self._hal9.id

    @property
    def runtime(self) -> NeuronHost:
        """The runtime this neuron is part of."""
        host = self._hal9.host
        if host is None:
            raise RuntimeError(f"neuron {self.id!r} is not part of a runtime")
        return host

    def service(self, kind: Callable[..., T]) -> T:
        """The runtime's service that is a ``kind`` (a class or protocol), typed as one.

        ``self.service(Memory)`` is what :attr:`memory` gives; ``self.service(MyCache)`` finds a
        service of a user's own. Use ``self.runtime.services.get(kind)`` for None instead of an error.

        Raises:
            ServiceUnavailable: the runtime has no such service.
        """
        return self.runtime.services.require(kind)

    @property
    def llm(self) -> LLM:
        """The runtime's LLM service; raises ServiceUnavailable if it has none."""
        return self.runtime.services.require(LLM)

    @property
    def memory(self) -> Memory:
        """The runtime's memory service; raises ServiceUnavailable if it has none."""
        return self.runtime.services.require(Memory)

    @property
    def tools(self) -> Tools:
        """The runtime's tool service; raises ServiceUnavailable if it has none."""
        return self.runtime.services.require(Tools)

    def system_prompt(self) -> str:
        """The system prompt to send: :attr:`prompt`, plus the lessons the learning service keeps.

        Without a learning service it is :attr:`prompt` itself. Call it for each LLM call, so a
        lesson learned meanwhile (or rolled back) is in (or out of) the next one.
        """
        host = self._hal9.host
        learning = host.services.get(Learning) if host is not None else None
        return learning.system_prompt(self.id, self.prompt) if learning is not None else self.prompt

    def note_failure(self, error: BaseException) -> None:
        """Report a failure this neuron recovered from in :meth:`process` (a refused tool call, say).

        The learning service learns from it as from a failed branch when the request ends;
        without one, or outside ``process()``, nothing happens.
        """
        signal = current_signal.get()
        host = self._hal9.host
        learning = host.services.get(Learning) if host is not None else None
        if signal is not None and learning is not None:
            learning.note_failure(signal, self.id, error)

    @property
    def status(self) -> NeuronStatus:
        """A snapshot of the neuron's run state, health, queue and counts."""
        actor = self._hal9
        return NeuronStatus(
            state=actor.state,
            healthy=actor.healthy,
            queue_size=actor.queue_size,
            mailbox_capacity=actor.mailbox.capacity,
            in_flight=actor.in_flight,
            concurrency=actor.concurrency or 1,
            processed=actor.stats.succeeded,
            failed=actor.stats.failed,
            restarts=actor.restarts,
            downstream=tuple(target.id for target in actor.downstream),
        )


@dataclass(frozen=True, slots=True)
class NeuronStatus:
    """What :attr:`Neuron.status` shows: what the HTTP API lists and the metrics export, at one moment.

    Attributes:
        state: ``idle``, ``processing`` (a signal in hand) or ``error`` (the last one failed).
        healthy: its loop runs (not crashed and backing off, not stopped).
        queue_size: signals waiting in its mailbox.
        mailbox_capacity: how many may wait.
        in_flight: signals in hand: inside ``process()``, or being forwarded.
        concurrency: signals it handles at once (its own setting, else the runtime's default).
        processed: signals whose ``process()`` returned.
        failed: signals whose ``process()`` raised.
        restarts: times its loop crashed and was restarted.
        downstream: the ids of the neurons it forwards to.
    """

    state: ActorState
    healthy: bool
    queue_size: int
    mailbox_capacity: int
    in_flight: int
    concurrency: int
    processed: int
    failed: int
    restarts: int
    downstream: tuple[str, ...]


class Downstream(Protocol):
    """What routing needs of a neuron it forwards to: a local neuron's actor, or a proxy of a remote one."""

    @property
    def id(self) -> str: ...

    @property
    def layer(self) -> Layer: ...

    @property
    def mailbox(self) -> Mailbox[Signal]: ...


class NeuronActor(Actor[Signal]):
    """The base class's side of a neuron: its mailbox, loop, state, counters and links to the runtime.

    Kept out of the :class:`Neuron`'s own namespace (as ``neuron._hal9``), so that a user's
    attribute never shadows it. Routing and the metrics work on this object.
    """

    def __init__(
        self, neuron: Neuron, actor_id: str, *, mailbox_capacity: int, restart_backoff: tuple[float, float]
    ) -> None:
        super().__init__(actor_id, mailbox_capacity=mailbox_capacity, restart_backoff=restart_backoff)
        self.neuron = neuron
        self.layer = neuron.layer
        self.in_flight = 0
        self.stats = NeuronStats(actor_id)
        self.downstream: tuple[Downstream, ...] = ()
        self.host: NeuronHost | None = None
        self._router: SignalRouter | None = None
        # Until attached, an event bus nobody listens to (the state gauge still works).
        self._events = EventBus()
        # The runtime's memory service, looked up once when the loop starts (services are
        # fixed by then); None keeps the hot path to one attribute test.
        self.memory: Memory | None = None

    def attach(self, host: NeuronHost, default_concurrency: int | None) -> None:
        """Join ``host``: the neuron's layer and concurrency are read now (after the subclass's ``__init__``)."""
        neuron = self.neuron
        self.layer = Layer(neuron.layer)
        self.concurrency = neuron.concurrency if neuron.concurrency is not None else default_concurrency
        self.host = host
        self._router = host.router
        self._events = host.events

    def _attach_memory(self) -> None:
        memory = self.host.services.get(Memory) if self.host is not None else None
        self.memory = memory
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

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # Every log line of this task carries the neuron id.
        structlog.contextvars.bind_contextvars(neuron_id=self.id)
        self._attach_memory()
        await super().run(task_status=task_status)

    async def _handle(self, signal: Signal) -> None:
        router = self._router
        assert router is not None  # attached before its loop starts
        self.in_flight += 1
        if self.in_flight == 1 and self.state is not PROCESSING:
            self.state = PROCESSING  # _set_state(), inline: twice a signal
            if self._events.active:
                self._publish_state()
        token = current_signal.set(signal)
        started_at = time.time()
        started = time.perf_counter()
        try:
            output = await self.neuron.process(signal)
        except Exception as exc:  # noqa: BLE001 - a failing process() fails its branch, never the loop
            elapsed = time.perf_counter() - started
            self.stats.observe(elapsed)
            self.stats.failed += 1
            log.warning("signal.failed", error=type(exc).__name__, detail=str(exc)[:500])
            self.in_flight -= 1
            if self.in_flight == 0:
                self._set_state(ActorState.ERROR)  # shown before the failure ends the trace
            if self.memory is not None:
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
        if self.memory is not None:
            router.remember(self, signal, output, None)
        # Still "processing" while forwarding: a neuron waiting on a full downstream
        # mailbox is busy, not idle. A crash in here is settled by _on_crash.
        waiting = router.forward(self, signal, output, started_at, elapsed)
        if waiting is not None:
            await waiting
        self.in_flight -= 1
        if self.in_flight == 0 and self.state is not IDLE:
            self.state = IDLE
            if self._events.active:
                self._publish_state()

    def _on_crash(self, item: Signal, exc: Exception) -> None:
        # The signal in hand when routing it raised: it is no longer in flight, and it fails.
        self.in_flight = max(0, self.in_flight - 1)
        if self._router is not None:
            self._router.fail(self, item, exc, time.time(), 0.0)


#: What a subclass may set or override; every other name the base class defines is its own.
_SUBCLASS_MAY_SET = frozenset({"layer", "prompt", "concurrency", "remember_chars", "process", "memories"})


def _reserved_names() -> frozenset[str]:
    own = {name for name in vars(Neuron) if not (name.startswith("__") and name.endswith("__"))}
    return frozenset(own - _SUBCLASS_MAY_SET - {"_abc_impl"} | {"_hal9"})


def _refuse_collisions(cls: type) -> None:
    """Refuse a subclass that defines, or assigns on ``self``, a name the base class owns.

    Raises:
        TypeError: naming the attribute and where the subclass sets it.
    """
    reserved = _reserved_names()
    for name, value in vars(cls).items():
        if name in reserved:
            raise TypeError(
                f"{cls.__qualname__} defines {name!r}, which is part of the Neuron base class "
                f"({_what(name)}); give yours another name"
            )
        for code in _code_objects(value):
            for attribute in _self_assignments(code) & reserved:
                raise TypeError(
                    f"{cls.__qualname__}.{code.co_name} sets self.{attribute}, which is part of the Neuron base "
                    f"class ({_what(attribute)}); give yours another name"
                )


def _what(name: str) -> str:
    doc = getattr(getattr(Neuron, name, None), "__doc__", None) if name != "_hal9" else None
    return (doc or "its private state").strip().splitlines()[0].rstrip(".")


def _code_objects(value: Any) -> list[CodeType]:
    """The code of a function, method, static or class method, or property defined in a class body."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        return [code for part in (value.fget, value.fset, value.fdel) for code in _code_objects(part)]
    code = getattr(value, "__code__", None)
    return [code] if isinstance(code, CodeType) else []


def _self_assignments(code: CodeType) -> set[str]:
    """Attribute names that ``code`` (and the functions nested in it) assign on ``self``."""
    names: set[str] = set()
    previous: dis.Instruction | None = None
    for instruction in dis.get_instructions(code):
        if (
            instruction.opname == "STORE_ATTR"
            and previous is not None
            and previous.opname.startswith(("LOAD_FAST", "LOAD_DEREF"))
        ):
            loaded = previous.argval
            # 3.13 fuses two loads into one instruction (LOAD_FAST_LOAD_FAST): the object is the second.
            if (loaded[-1] if isinstance(loaded, tuple) else loaded) == "self":
                names.add(instruction.argval)
        previous = instruction
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            names |= _self_assignments(constant)
    return names


def _text(value: Any, limit: int) -> str:
    """A value as text for memory: a fan-out list one item a line; cut to ``limit`` characters."""
    text = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return text[:limit]
