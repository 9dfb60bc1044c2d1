"""The runtime: task group, neurons, topology, services, metrics and pending results."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Self

import anyio
import structlog
from anyio import AsyncContextManagerMixin
from anyio.abc import TaskGroup

from hal9.config import Config, NeuronConfig
from hal9.errors import (
    Hal9Error,
    MailboxFull,
    NeuronNotFound,
    NeuronStopped,
    NoEntryNeuron,
    RuntimeNotRunning,
    TopologyError,
)
from hal9.metrics import MetricsRegistry
from hal9.metrics.runtime_collector import RuntimeCollector
from hal9.runtime.assembly import build_neuron, build_services
from hal9.runtime.events import EventBus
from hal9.runtime.memory import Memory
from hal9.runtime.neuron import Neuron, NeuronActor
from hal9.runtime.remote import RemoteRouting
from hal9.runtime.routing import Router
from hal9.runtime.service import Service
from hal9.runtime.services import Services
from hal9.runtime.signal import Signal, new_id
from hal9.runtime.topology import Topology
from hal9.runtime.trace import BranchError, TraceResult, TraceStore
from hal9.runtime.transport import RemoteNeuron, Transport

log = structlog.get_logger("hal9.runtime")


class Runtime(AsyncContextManagerMixin):
    """Runs a network of neurons.

    Example:
        >>> async with Runtime() as rt:              # the default L4 -> L3 -> L2 network
        ...     result = await rt.ask("Build a todo app")
        ...     print(result.outputs)

    Args:
        config: the configuration; defaults are complete (mock LLM, default network).
        services: services by name, overriding the ones the config names.
        neurons: neurons to use instead of ``config.neurons`` (connect them with
            :meth:`connect`); None builds the network the config describes.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        services: Mapping[str, Service] | None = None,
        neurons: Iterable[Neuron] | None = None,
    ) -> None:
        self.config = config if config is not None else Config()
        settings = self.config.runtime
        self.metrics = MetricsRegistry(self.config.server_id)
        self.events = EventBus()
        self.topology = Topology()
        self._neurons: dict[str, Neuron] = {}
        # Neurons placed on other servers: downstream targets only, served by the transport.
        self._remote: dict[str, RemoteNeuron] = {}
        # Replaced, never mutated: a scrape (on the loop or in a thread) iterates it without a lock.
        self.neuron_snapshot: tuple[NeuronActor, ...] = ()
        self._entries: tuple[NeuronActor, ...] = ()
        self._traces = TraceStore(settings.max_traces, settings.max_path_hops)
        #: What neurons hand their processed signals to: forwarding, results, trace accounting.
        self.router = Router(self._traces, self.events, settings.send_timeout, settings.memory_stores_in_flight)
        self._task_group: TaskGroup | None = None
        self.accepting = False
        self.started_at: float | None = None

        # Neurons keep their counters in ``neuron.stats``; this collector exposes them.
        self.metrics.register(RuntimeCollector(self))

        #: The services, found by what they provide (``services.get(Memory)``) or by name.
        self.services = Services()
        for name, service in build_services(self.config, services).items():
            self.add_service(name, service)
        self.transport = self.services.get(Transport)
        self._remote_routing = RemoteRouting(self.router, self._neurons, lambda: self.accepting)
        if self.transport is not None:
            self.transport.bind_router(self._remote_routing)

        if neurons is None:
            self._build_from_config(self.config.neurons)
        else:
            for neuron in neurons:
                self.add(neuron)

    # -- building the network --------------------------------------------------------

    def _build_from_config(self, neurons: Iterable[NeuronConfig]) -> None:
        specs = list(neurons)
        for spec in specs:
            if spec.server is not None and spec.server != self.config.server_id:
                self._add_remote(spec)
                continue
            self.add(build_neuron(spec, self.config.runtime))
        for spec in specs:
            for target in spec.downstream:
                if spec.id in self._remote:
                    # A remote neuron's own edges matter here only for the topology: they
                    # tell which local neurons are fed from elsewhere (and so are no entries).
                    self.topology.connect(spec.id, target)
                else:
                    self.connect(spec.id, target)
        self._refresh()

    def _add_remote(self, spec: NeuronConfig) -> None:
        if self.transport is None:
            raise TopologyError(
                f"neuron {spec.id!r} is placed on server {spec.server!r}, but no network transport is configured"
            )
        assert spec.server is not None
        self.topology.add(spec.id)
        proxy = RemoteNeuron(
            spec.id,
            layer=spec.layer,
            server_id=spec.server,
            transport=self.transport,
            routing=self._remote_routing,
            mailbox_capacity=spec.mailbox_capacity or self.config.runtime.mailbox_capacity,
        )
        self._remote[spec.id] = proxy

    def add_service(self, name: str, service: Service) -> None:
        """Add a service under ``name``; neurons find it by what it provides (``self.service(Kind)``, ``self.llm``)."""
        if self._task_group is not None:
            raise TopologyError("services are added before the runtime starts")
        service.bind_metrics(self.metrics)
        self.services.add(name, service)
        service.on_attached(self)
        if type(service).on_trace_finished is not Service.on_trace_finished:
            # Only these are told when a request ends: the others cost nothing then.
            self.router.trace_observers = (*self.router.trace_observers, service)

    def add(self, neuron: Neuron, *, downstream: Iterable[str] = ()) -> Neuron:
        """Add a neuron (before or while running) and connect it to ``downstream`` ids."""
        # Checked first: a refused add must not leave a half-added neuron (no loop, no edges) behind.
        downstream = tuple(downstream)
        for target in downstream:
            self.neuron(target)
        self.topology.add(neuron.id)
        neuron._hal9.attach(self, self.config.runtime.neuron_concurrency)
        self._neurons[neuron.id] = neuron
        self._refresh()
        for target in downstream:
            self.connect(neuron.id, target)
        if self._task_group is not None:
            self._task_group.start_soon(neuron._hal9.run, name=f"neuron:{neuron.id}")
        return neuron

    def connect(self, source: str, target: str) -> None:
        """Add a forward connection ``source -> target``."""
        self.topology.connect(source, target)
        # The series exists at zero from the moment the connection does.
        self._neurons[source]._hal9.stats.forwarded.setdefault(target, 0)
        self._refresh()

    async def remove(self, neuron_id: str) -> None:
        """Disconnect a neuron, let it finish what is queued, stop it and drop its metric series."""
        neuron = self.neuron(neuron_id)
        for source in self.topology.remove(neuron_id):
            if source in self._neurons:  # not a neuron placed on another server
                del self._neurons[source]._hal9.stats.forwarded[neuron_id]
        del self._neurons[neuron_id]
        # Its series stay in the snapshot until it has drained, so what it processes and
        # forwards meanwhile is still exposed; then they go with it.
        self._refresh(draining=(neuron._hal9,))
        neuron._hal9.close()
        # Not ``running``: a loop backing off after a crash is not running, yet it
        # will restart and handle what is queued.
        if self._task_group is not None:
            await neuron._hal9.wait_stopped()
        self._refresh()
        for service in self.services.values():
            service.on_neuron_removed(neuron_id)

    def _refresh(self, draining: tuple[NeuronActor, ...] = ()) -> None:
        remote = self._remote
        for neuron in self._neurons.values():
            neuron._hal9.downstream = tuple(
                self._neurons[t]._hal9 if t in self._neurons else remote[t] for t in self.topology.downstream(neuron.id)
            )
        entries = [self._neurons[n]._hal9 for n in self.topology.entries() if n not in remote]
        self._entries = tuple(sorted(entries, key=lambda n: (-n.layer.level, n.id)))
        self.neuron_snapshot = (*(neuron._hal9 for neuron in self._neurons.values()), *draining)

    @property
    def neurons(self) -> Mapping[str, Neuron]:
        return dict(self._neurons)

    def neuron(self, neuron_id: str) -> Neuron:
        try:
            return self._neurons[neuron_id]
        except KeyError:
            raise NeuronNotFound(neuron_id) from None

    @property
    def entries(self) -> tuple[Neuron, ...]:
        """Where requests enter: the neurons nothing forwards to, top layer first."""
        return tuple(actor.neuron for actor in self._entries)

    @property
    def ready(self) -> bool:
        """True once started and every neuron's loop runs."""
        return self.accepting and all(actor.running for actor in self.neuron_snapshot)

    # -- lifecycle -------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Enter the services, start every neuron's loop; on exit drain (or cancel, if the block raised) and stop.

        On a clean exit the runtime stops accepting requests and waits up to
        ``runtime.drain_timeout`` for the active ones; then the neurons finish what is queued,
        and the services are left in the reverse order of their entry.
        """
        raised: BaseException | None = None
        async with AsyncExitStack() as services:
            for service in self.services.values():
                await services.enter_async_context(service)
            try:
                # What the block (or a start) raised is kept and raised below: a task group would
                # wrap it in an exception group, which the caller's ``except`` would not catch.
                async with anyio.create_task_group() as tasks:
                    self._task_group = self.router.task_group = tasks
                    try:
                        await self._start_neurons(tasks)
                    except BaseException as exc:  # noqa: BLE001 - raised again, unwrapped, below
                        raised = exc
                        tasks.cancel_scope.cancel()
                    else:
                        try:
                            yield self
                        except anyio.get_cancelled_exc_class():
                            if not tasks.cancel_scope.cancel_called:
                                raise  # a cancellation from outside: it is the caller's
                            # abort() cancelled the block with the neurons: the task group absorbs it,
                            # and the caller goes on after its ``async with``.
                            self.accepting = False
                            raise
                        except BaseException as exc:  # noqa: BLE001 - raised again, unwrapped, below
                            raised = exc
                            self.accepting = False
                            tasks.cancel_scope.cancel()
                        else:
                            await self.drain(self.config.runtime.drain_timeout)
                        finally:
                            for actor in (*self.neuron_snapshot, *self._remote.values()):
                                actor.close()
            finally:
                self.accepting = False
                self._task_group = self.router.task_group = None
                self.router.abandon_active("runtime stopped before the request finished")
                log.info("runtime.stopped")
            if raised is not None:
                raise raised

    async def _start_neurons(self, tasks: TaskGroup) -> None:
        self.router.memory = self.services.get(Memory)
        for actor in (*self.neuron_snapshot, *self._remote.values()):
            await tasks.start(actor.run, name=f"neuron:{actor.id}")
        self.started_at = time.monotonic()
        self.accepting = True
        log.info("runtime.started", neurons=len(self._neurons), services=sorted(self.services))

    def abort(self, reason: str = "the server was told to stop at once") -> None:
        """Fail every active request now, as a drain past its timeout fails them, and stop the neurons.

        For a second stop request (Ctrl-C again) while draining: the requests still running end
        with ``RuntimeNotRunning`` (``reason``), so callers waiting for them get their failed
        results at once, and the neurons' loops are cancelled. A drain under way, or the next
        one, finds nothing left to wait for. Call it on the event loop.
        """
        self.accepting = False
        if self._task_group is not None:
            log.warning("runtime.aborted", active_traces=len(self._traces.active), reason=reason)
            self._task_group.cancel_scope.cancel()
        self.router.abandon_active(reason)

    async def drain(self, timeout: float) -> bool:
        """Stop accepting requests and wait up to ``timeout`` for the active ones to finish.

        Shielded, so a drain started by a cancelled caller still gets its time limit.
        Returns True when nothing was left running; otherwise the loops are cancelled.
        """
        self.accepting = False
        with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
            while self._traces.active:
                await next(iter(self._traces.active.values())).done.wait()
        drained = not self._traces.active
        if not drained and self._task_group is not None:
            log.warning("runtime.drain_timeout", active_traces=len(self._traces.active))
            self._task_group.cancel_scope.cancel()
        return drained

    # -- requests --------------------------------------------------------------------

    async def submit(
        self,
        content: Any,
        *,
        send_timeout: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> str:
        """Send a request into the network and return its trace id without waiting for the result.

        A request is traced under one id, its trace id: every signal of it carries that id as
        :attr:`Signal.trace_id`, its result (:meth:`wait`, :meth:`lookup`) is found by it, and the
        request's first signal has it as its own id.

        Args:
            content: the request.
            send_timeout: how long to wait for room in an entry mailbox (default ``runtime.send_timeout``).
            metadata: read-only annotations carried by the request signal.
            trace_id: the id to trace it under, from :func:`~hal9.runtime.signal.new_id` (a caller
                that records the request before it runs); None makes a new one.

        Raises:
            RuntimeNotRunning: not started, or draining.
            MailboxFull: no entry neuron had room within ``send_timeout``; nothing was accepted.
        """
        if not self.accepting:
            raise RuntimeNotRunning("the runtime is not accepting requests")
        entries = self._entries
        if not entries:
            if self._remote:
                raise NoEntryNeuron(
                    "no neuron of this server takes requests: send them to the server of the top-layer neurons"
                )
            raise TopologyError("the network has no neurons")
        if trace_id is None:
            trace_id = new_id()
        elif trace_id in self._traces.active:
            raise ValueError(f"a request with trace id {trace_id!r} is already running")
        trace = self._traces.open(trace_id, content)
        # One count per entry until every entry was tried, so that an entry that finishes
        # while the next one waits for room cannot end the trace early.
        trace.pending = len(entries)
        wait = self.router.send_timeout if send_timeout is None else send_timeout
        refused: Hal9Error | None = None
        accepted = 0
        try:
            for index, entry in enumerate(entries):
                signal_id = trace_id if index == 0 else new_id()
                signal = Signal(signal_id, trace_id, None, "client", entry.id, entry.layer, content, metadata or {})
                try:
                    await entry.mailbox.put(signal, wait)
                except (MailboxFull, NeuronStopped) as exc:
                    refused = exc
                    trace.errors.append(BranchError(entry.id, signal_id, type(exc).__name__, str(exc)))
                else:
                    accepted += 1
        finally:
            # Also on cancellation: a caller that gave up while waiting for room must not
            # leave a trace behind that never ends (and holds up every drain).
            if accepted == 0:
                self._traces.active.pop(trace_id, None)
            else:
                if self.events.active:
                    self.events.publish(
                        "signal.submitted", signal_id=trace_id, trace_id=trace_id, entries=[e.id for e in entries]
                    )
                trace.pending -= len(entries) - accepted
                if trace.pending == 0:
                    self.router.finish(trace)
        if accepted == 0:
            # Nothing was accepted: the caller gets the error and no trace is kept.
            assert refused is not None
            raise refused
        return trace_id

    async def wait(self, trace_id: str, timeout: float | None = None) -> TraceResult:
        """Wait for a request to finish and return its result.

        Args:
            trace_id: what :meth:`submit` returned.
            timeout: how long to wait for the result; None waits as long as it takes.

        Raises:
            TraceNotFound: no such request (or it left the bounded history).
            TimeoutError: the result took longer than ``timeout`` seconds (the request goes on).
        """
        trace = self._traces.get(trace_id)
        if timeout is None:
            await trace.done.wait()
        else:
            with anyio.fail_after(timeout):
                await trace.done.wait()
        return trace.result()

    async def ask(
        self, content: Any, *, timeout: float | None = None, send_timeout: float | None = None
    ) -> TraceResult:
        """Send a request and return its result once every branch has ended: :meth:`submit`, then :meth:`wait`.

        Args:
            content: the request.
            timeout: how long to wait for the result, as in :meth:`wait`.
            send_timeout: how long to wait for room in an entry mailbox, as in :meth:`submit`.

        Raises:
            RuntimeNotRunning: the runtime is not started or is draining.
            MailboxFull: the entry mailbox stayed full for ``send_timeout``.
            TimeoutError: the result took longer than ``timeout`` seconds.
        """
        return await self.wait(await self.submit(content, send_timeout=send_timeout), timeout)

    def lookup(self, trace_id: str) -> TraceResult:
        """A snapshot of a request, finished or not; raises TraceNotFound."""
        return self._traces.get(trace_id).result()

    @property
    def active_requests(self) -> int:
        return len(self._traces.active)

    # -- distributed mode --------------------------------------------------------------------

    @property
    def local_neuron_ids(self) -> tuple[str, ...]:
        """The neurons that run in this runtime (not the ones placed on other servers)."""
        return tuple(self._neurons)

    @property
    def remote_neurons(self) -> Mapping[str, str]:
        """Neurons placed on other servers: neuron id -> server id."""
        return {neuron_id: proxy.server_id for neuron_id, proxy in self._remote.items()}
