"""The transport protocol: how the runtime reaches neurons that live on other servers.

The runtime imports no transport implementation (distributed mode over NATS lives in
:mod:`hal9.network`). A neuron placed on another server is represented here by a
:class:`RemoteNeuron`: a proxy whose mailbox is the bounded outbound queue to that server.
Routing puts a child signal into it exactly as into a local neuron's mailbox, so the local
hot path is unchanged; the proxy's loop hands each signal to the :class:`Transport`.

A branch sent away stays pending in its trace until the other server reports it ended
(:meth:`RemoteRouter.remote_done`) or the transport gives up on it
(:meth:`RemoteRouter.remote_failed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.layer import Layer
from hal9.runtime.actor import Actor
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop, Trace

log = structlog.get_logger("hal9.transport")


class RemoteRouter(Protocol):
    """What a transport calls on the runtime (:class:`~hal9.runtime.remote.RemoteRouting` implements it)."""

    @property
    def local_neuron_ids(self) -> tuple[str, ...]:
        """The neurons that run here (announced to the other servers)."""
        ...

    def accept_remote(self, signal: Signal) -> tuple[Trace, bool]:
        """Put a signal from another server into its target's mailbox, under a trace of its own.

        Returns:
            The trace that ends when the signal's branch here has ended, and whether it is
            new (False: a duplicate of a signal accepted before; nothing was delivered).

        Raises:
            MailboxFull: no room right now (the sender retries: backpressure, not loss).
            NeuronStopped: the target is stopping.
            RuntimeNotRunning: not started, or draining.
            NeuronNotFound: no neuron here has that id.
        """
        ...

    def remote_done(
        self, trace_id: str, outputs: Sequence[Any], errors: Sequence[BranchError], hops: Sequence[Hop]
    ) -> None:
        """A branch sent to another server ended there: merge what it produced, settle it."""
        ...

    def remote_failed(self, trace_id: str, neuron_id: str, signal_id: str, exc: Exception) -> None:
        """A branch sent to another server failed (not delivered, or its server is gone)."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Carries signals to neurons on other servers (a :class:`~hal9.runtime.service.Service`)."""

    #: Signals to one remote neuron that may await their acknowledgement at once.
    send_concurrency: int

    def bind_router(self, router: RemoteRouter) -> None:
        """Called once by the runtime that owns the transport, before it starts."""
        ...

    async def send(self, signal: Signal, server_id: str) -> None:
        """Deliver ``signal`` to its target on ``server_id``; return once that server has it in the mailbox.

        From then on the transport owns the branch: it reports its end through the router.

        Raises:
            NotTransportable: the content is not JSON.
            PeerUnavailable: not accepted within the configured time.
            RemoteRejected: the other server refused it for good.
        """
        ...


class RemoteNeuron(Actor[Signal]):
    """Stands for a neuron on another server: its mailbox is the outbound queue to it.

    Not one of the runtime's neurons (no metric series, not listed): it exists only as a
    downstream target. ``transport.send_concurrency`` senders take signals from the queue,
    each sending one at a time until it is acknowledged, so a round trip per signal does not
    limit the rate. A server that answers "mailbox full" holds the senders, the queue
    fills, and local senders wait: the same backpressure a local neuron gives.
    """

    def __init__(
        self,
        id: str,  # noqa: A002 - routing reads the ids of local and remote neurons alike
        *,
        layer: Layer | str,
        server_id: str,
        transport: Transport,
        routing: RemoteRouter,
        mailbox_capacity: int = 64,
        restart_backoff: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        super().__init__(id, mailbox_capacity=mailbox_capacity, restart_backoff=restart_backoff)
        self.layer = Layer(layer)
        self.server_id = server_id
        self.transport = transport
        self.routing = routing

    async def run(self, **kwargs: Any) -> None:
        """The senders; returns once the queue is closed and drained.

        No supervision is needed: :meth:`_handle` turns every failure into the branch's.
        """
        task_status: TaskStatus[None] = kwargs.get("task_status", anyio.TASK_STATUS_IGNORED)
        self.running = True
        try:
            async with anyio.create_task_group() as senders:
                for _ in range(max(1, self.transport.send_concurrency)):
                    senders.start_soon(self._loop)
                task_status.started()
        finally:
            self.running = False
            self._stopped.set()

    async def _handle(self, signal: Signal) -> None:
        try:
            await self.transport.send(signal, self.server_id)
        except Exception as exc:  # noqa: BLE001 - an undeliverable signal fails its branch, never the loop
            log.warning("signal.remote_failed", target=self.id, server=self.server_id, error=str(exc)[:500])
            self.routing.remote_failed(signal.trace_id, self.id, signal.id, exc)

    def _on_crash(self, item: Signal, exc: Exception) -> None:
        self.routing.remote_failed(item.trace_id, self.id, item.id, exc)
