"""Remote routing: the runtime's side of distributed mode, as the transport sees it.

A :class:`RemoteRouting` is what the runtime binds to its transport (the
:class:`~hal9.runtime.transport.RemoteRouter` protocol): signals from other servers come in
through :meth:`~RemoteRouting.accept_remote`, and the branches this server sent away end
through :meth:`~RemoteRouting.remote_done` or :meth:`~RemoteRouting.remote_failed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hal9.errors import NeuronNotFound, RuntimeNotRunning, TraceNotFound
from hal9.runtime.neuron import Neuron
from hal9.runtime.routing import Router
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop, Trace


class RemoteRouting:
    """Delivers signals from other servers to local neurons, and settles branches sent away.

    Args:
        router: the runtime's router (its traces and their accounting).
        neurons: the local neurons by id (the runtime's live mapping).
        accepting: whether the runtime takes new work now.
    """

    def __init__(self, router: Router, neurons: Mapping[str, Neuron], accepting: Callable[[], bool]) -> None:
        self._router = router
        self._neurons = neurons
        self._accepting = accepting

    @property
    def local_neuron_ids(self) -> tuple[str, ...]:
        """The neurons that run in this runtime (not the ones placed on other servers)."""
        return tuple(self._neurons)

    def accept_remote(self, signal: Signal) -> tuple[Trace, bool]:
        """Deliver a signal from another server into its target's mailbox, under a trace of its own.

        The trace is keyed by the signal's id (unique across servers), so that a duplicate
        (the sender retried) finds it and is not delivered twice, and so that the trace's end
        tells the transport when to send the branch's result back. Never waits: a full
        mailbox raises at once, and the sender retries (backpressure, not loss).

        Raises:
            RuntimeNotRunning: not started, or draining.
            NeuronNotFound: no local neuron has the signal's target id.
            MailboxFull: no room now.
            NeuronStopped: the target is stopping.
        """
        traces = self._router.traces
        try:
            return traces.get(signal.id), False
        except TraceNotFound:
            pass
        if not self._accepting():
            raise RuntimeNotRunning("the runtime is not accepting signals")
        target = self._neurons.get(signal.target)
        if target is None:
            raise NeuronNotFound(signal.target)
        local = Signal(
            signal.id,
            signal.id,
            signal.parent_id,
            signal.source,
            target.id,
            target.layer,
            signal.content,
            signal.metadata,
            signal.created_at,
        )
        trace = traces.open(signal.id, signal.content)
        trace.pending = 1
        try:
            target._hal9.mailbox.put_nowait(local)
        except BaseException:
            traces.active.pop(signal.id, None)
            raise
        return trace, True

    def remote_done(
        self, trace_id: str, outputs: Sequence[Any], errors: Sequence[BranchError], hops: Sequence[Hop]
    ) -> None:
        """A branch sent to another server ended there: merge its outputs, errors and hops; settle it."""
        trace = self._router.traces.active.get(trace_id)
        if trace is None:
            return
        for hop in hops:
            trace.record(hop)
        trace.outputs.extend(outputs)
        trace.errors.extend(errors)
        self._router.settle(trace)

    def remote_failed(self, trace_id: str, neuron_id: str, signal_id: str, exc: Exception) -> None:
        """A branch sent to another server failed: record why and settle it."""
        trace = self._router.traces.active.get(trace_id)
        if trace is None:
            return
        self._router.record_error(trace, neuron_id, signal_id, exc)
        self._router.settle(trace)
