"""Routing: what happens to a signal once a neuron has processed it.

The :class:`Router` is the one object a neuron hands its work to (the runtime gives each
neuron the same one): it records the hop, forwards the output downstream or keeps it as the
request's result, records a failed branch, stores what the request's neurons left for memory,
and ends a trace with its last signal. Every request's accounting (``Trace.pending``) changes
here only, so that a trace ends exactly once.
"""

from __future__ import annotations

from collections.abc import Coroutine
from itertools import product
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.errors import MailboxFull, NeuronStopped
from hal9.runtime.events import EventBus
from hal9.runtime.memory import Memory, MemoryRecord
from hal9.runtime.neuron import Downstream, NeuronActor
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop, Trace, TraceStore, hop_fields

log = structlog.get_logger("hal9.runtime")

_new_tuple = tuple.__new__

#: Memories a request gathers before they are stored, without waiting for its end (a long request's).
FLUSH_RECORDS = 256


class Router:
    """Routes processed signals and keeps each request's trace.

    Args:
        traces: the active and finished traces.
        events: where live observers hear of hops, forwards, failures and completions.
        send_timeout: how long a sender waits for room in a full mailbox before the branch fails.
        stores_in_flight: memory stores running at once, each one request's memories (more wait for a slot).
    """

    def __init__(self, traces: TraceStore, events: EventBus, send_timeout: float, stores_in_flight: int) -> None:
        self.traces = traces
        self._active = traces.active  # the same dict for the store's life, read once per hop
        self.events = events
        self.send_timeout = send_timeout
        #: Services told when a request ends (those that override ``on_trace_finished``).
        self.trace_observers: tuple[Service, ...] = ()
        #: Where memory stores run: the runtime's task group, set while it runs.
        self.task_group: TaskGroup | None = None
        #: The memory that stores what neurons leave behind; set before the neurons start.
        self.memory: Memory | None = None
        # One bound for the whole runtime: the stores share its task group and its one memory writer.
        self._store_slots = anyio.Semaphore(stores_in_flight)

    # -- what a neuron calls ---------------------------------------------------------------

    def forward(
        self, neuron: NeuronActor, signal: Signal, output: Any, started_at: float, elapsed: float
    ) -> Coroutine[Any, Any, None] | None:
        """``neuron`` processed ``signal`` into ``output``: record the hop, deliver the output, settle the signal.

        A list is fanned out as one signal per element to every downstream neuron; None ends
        the branch; at a neuron with no downstream the output becomes part of the result.

        Returns:
            None when everything was delivered at once (the common case costs no coroutine);
            otherwise a coroutine to await, which waits for room in a full mailbox and
            delivers the rest.
        """
        trace = self._active.get(signal.trace_id)
        if trace is not None:
            # tuple.__new__ skips the named tuple's generated __new__, a Python-level call per hop.
            hop = _new_tuple(
                Hop, (signal.id, signal.parent_id, neuron.id, neuron.layer, "success", started_at, elapsed)
            )
            if len(trace.hops) < trace.max_hops:  # trace.record(), inline: once per hop
                trace.hops.append(hop)
            else:
                trace.hops_dropped += 1
            if self.events.active:
                self.events.publish("signal.processed", trace_id=trace.id, **hop_fields(hop))
        if output is not None:
            values = output if isinstance(output, list) else (output,)
            targets = neuron.downstream
            if targets:
                done = 0
                for value in values:
                    for target in targets:
                        child = signal.child(source=neuron.id, target=target.id, layer=target.layer, content=value)
                        try:
                            delivered = target.mailbox.try_put(child)
                        except NeuronStopped as exc:
                            self._undeliverable(neuron, target, child, trace, exc)
                        else:
                            if not delivered:
                                rest = list(product(values, targets))[done + 1 :]
                                return self._forward_waiting(neuron, signal, trace, target, child, rest)
                            # Room in the mailbox: _delivered(), inline.
                            if trace is not None:
                                trace.pending += 1  # before the child can run: nothing yielded since
                            neuron.stats.forwarded[target.id] += 1
                            if self.events.active:
                                self._publish_forward(neuron, signal, target, child)
                        done += 1
            elif trace is not None:
                trace.outputs.extend(values)
        if trace is not None:  # settle(), inline
            trace.pending -= 1
            if trace.pending == 0:
                self._last_settled(trace)
        return None

    async def _forward_waiting(
        self,
        neuron: NeuronActor,
        signal: Signal,
        trace: Trace | None,
        target: Downstream,
        child: Signal,
        rest: list[tuple[Any, Downstream]],
    ) -> None:
        """The rest of :meth:`forward` from a full mailbox on: wait for room, deliver the others, settle."""
        await self._deliver_waiting(neuron, signal, target, child, trace)
        for value, next_target in rest:
            next_child = signal.child(source=neuron.id, target=next_target.id, layer=next_target.layer, content=value)
            if not self._deliver_now(neuron, signal, next_target, next_child, trace):
                await self._deliver_waiting(neuron, signal, next_target, next_child, trace)
        self.settle(trace)

    def fail(self, neuron: NeuronActor, signal: Signal, exc: Exception, started_at: float, elapsed: float) -> None:
        """``neuron`` failed ``signal`` (its ``process()`` raised, or its loop crashed on it): the branch ends."""
        trace = self.traces.active.get(signal.trace_id)
        if trace is None:
            return
        hop = Hop(signal.id, signal.parent_id, neuron.id, neuron.layer, "error", started_at, elapsed)
        trace.record(hop)
        if self.events.active:
            self.events.publish("signal.processed", trace_id=trace.id, **hop_fields(hop))
        self.record_error(trace, neuron.id, signal.id, exc)
        self.settle(trace)

    def remember(self, neuron: NeuronActor, signal: Signal, output: Any, error: Exception | None) -> None:
        """Keep what the neuron's ``memories()`` gives for ``signal``, to be stored with the rest of its request.

        Nothing is written per hop: once the request's last signal is routed, its memories are
        stored in one transaction in the background, and the request ends when they are durable
        (``ask()`` returns, the result is final, a drain completes only then). A request that
        gathers :data:`FLUSH_RECORDS` stores what it has so far at once. A failure is logged
        (``memory.remember_failed``) and fails nothing.
        """
        try:
            records = neuron.neuron.memories(signal, output, error)
        except Exception as exc:  # noqa: BLE001 - memory is an aid: losing one never fails the signal
            log.warning("memory.remember_failed", error=type(exc).__name__, detail=str(exc)[:500])
            return
        if not records:
            return
        # Still active: the signal in hand, not yet settled, holds its trace open.
        trace = self.traces.active.get(signal.trace_id)
        if trace is None:
            self._store(list(records), None)
            return
        trace.memories.extend(records)
        if len(trace.memories) >= FLUSH_RECORDS:
            self._store(trace.memories, trace)
            trace.memories = []

    # -- trace accounting --------------------------------------------------------------------

    def record_error(self, trace: Trace, neuron_id: str, signal_id: str, exc: Exception) -> None:
        error = BranchError(neuron_id, signal_id, type(exc).__name__, str(exc)[:1000])
        trace.errors.append(error)
        if self.events.active:
            self.events.publish(
                "signal.failed",
                signal_id=signal_id,
                trace_id=trace.id,
                neuron_id=neuron_id,
                error=error.error,
                message=error.message,
            )

    def settle(self, trace: Trace | None) -> None:
        """One signal of ``trace`` is fully routed; the trace ends with its last, once its memories are stored."""
        if trace is None:
            return
        trace.pending -= 1
        if trace.pending == 0:
            self._last_settled(trace)

    def _last_settled(self, trace: Trace) -> None:
        if trace.memories:
            self._store(trace.memories, trace)
            trace.memories = []
        else:
            self.finish(trace)

    def finish(self, trace: Trace) -> None:
        """End ``trace``: keep its result, tell the observers and the subscribers."""
        self.traces.close(trace)
        if self.trace_observers:
            self._notify_finished(trace)
        if self.events.active:
            self.events.publish(
                "signal.completed",
                signal_id=trace.id,
                trace_id=trace.id,
                status=trace.status,
                outputs=trace.outputs,
                errors=len(trace.errors),
            )

    def abandon_active(self, reason: str) -> None:
        """End every trace still running as failed (the runtime stopped before they finished)."""
        for trace in list(self.traces.active.values()):
            trace.errors.append(BranchError("runtime", trace.id, "RuntimeNotRunning", reason))
            self.finish(trace)

    # -- internals -------------------------------------------------------------------------

    def _store(self, records: list[MemoryRecord], trace: Trace | None) -> None:
        """Store ``records`` in the background, holding ``trace`` open until they are durable."""
        if trace is not None:
            trace.pending += 1
        assert self.task_group is not None  # neurons run only inside it
        self.task_group.start_soon(self._store_records, records, trace)

    async def _store_records(self, records: list[MemoryRecord], trace: Trace | None) -> None:
        memory = self.memory
        if memory is not None:
            async with self._store_slots:
                try:
                    await memory.store_many(records)
                except Exception:  # noqa: BLE001 - one refused record must not lose the request's others
                    await self._store_one_by_one(memory, records)
        # Not reached when cancelled (a shutdown past its drain timeout): the trace stays
        # open and is abandoned with RuntimeNotRunning, as a cancelled neuron leaves it.
        if trace is not None and trace.finished_at is None:
            self.settle(trace)

    async def _store_one_by_one(self, memory: Memory, records: list[MemoryRecord]) -> None:
        for record in records:
            try:
                await memory.store_many((record,))
            except Exception as exc:  # noqa: BLE001 - memory is an aid: losing one never fails the signal
                log.warning(
                    "memory.remember_failed",
                    neuron_id=record.neuron_id,
                    error=type(exc).__name__,
                    detail=str(exc)[:500],
                )

    def _deliver_now(
        self, neuron: NeuronActor, signal: Signal, target: Downstream, child: Signal, trace: Trace | None
    ) -> bool:
        """Deliver if the mailbox has room; False when the sender must wait (nothing done then)."""
        try:
            if not target.mailbox.try_put(child):
                return False
        except NeuronStopped as exc:
            self._undeliverable(neuron, target, child, trace, exc)
            return True
        self._delivered(neuron, signal, target, child, trace)
        return True

    async def _deliver_waiting(
        self, neuron: NeuronActor, signal: Signal, target: Downstream, child: Signal, trace: Trace | None
    ) -> None:
        """Wait up to ``send_timeout`` for room; the branch fails if none comes.

        The trace cannot end meanwhile: the signal being forwarded is not settled yet.
        """
        try:
            await target.mailbox.put(child, self.send_timeout)
        except (MailboxFull, NeuronStopped) as exc:
            self._undeliverable(neuron, target, child, trace, exc)
            return
        # put() returns without yielding once it has delivered, so nothing ran in between.
        self._delivered(neuron, signal, target, child, trace)

    def _undeliverable(
        self,
        neuron: NeuronActor,
        target: Downstream,
        child: Signal,
        trace: Trace | None,
        exc: MailboxFull | NeuronStopped,
    ) -> None:
        log.warning("signal.undeliverable", target=target.id, error=str(exc))
        if trace is not None:
            self.record_error(trace, neuron.id, child.id, exc)

    def _delivered(
        self, neuron: NeuronActor, signal: Signal, target: Downstream, child: Signal, trace: Trace | None
    ) -> None:
        # Counted before the child can run: the caller has not yielded since delivering it.
        if trace is not None:
            trace.pending += 1
        neuron.stats.forwarded[target.id] += 1
        if self.events.active:
            self._publish_forward(neuron, signal, target, child)

    def _publish_forward(self, neuron: NeuronActor, signal: Signal, target: Downstream, child: Signal) -> None:
        self.events.publish(
            "signal.forwarded",
            signal_id=child.id,
            parent_id=signal.id,
            trace_id=signal.trace_id,
            from_neuron=neuron.id,
            to_neuron=target.id,
        )

    def _notify_finished(self, trace: Trace) -> None:
        result = trace.result()
        for service in self.trace_observers:
            try:
                service.on_trace_finished(result)
            except Exception:  # an observer's bug must not fail the request that ended
                log.exception("service.trace_observer_failed", service=service.name)
