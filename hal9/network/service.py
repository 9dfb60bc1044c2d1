"""The network service: signals, results, heartbeats and pings between HAL9 servers over NATS.

Delivery is at-least-once over core NATS request-reply, without JetStream: the sender keeps
every unfinished branch and re-sends it, which covers a lost message, a NATS restart and a
crashed receiver alike, with no stream to provision:

* The sender asks ``hal9.<cluster>.<server>.signal`` and retries with backoff until the
  receiver answers ``accepted`` (the signal is in the target's mailbox) or ``duplicate``;
  ``full`` (mailbox full) and ``unavailable`` (draining) are backpressure: it retries. After
  ``network.delivery_timeout`` without acceptance the branch fails with ``PeerUnavailable``.
* The receiver keys the branch's trace by the signal id, so a duplicate is recognised (a
  bounded set: the runtime's trace history) and not delivered twice. With the cluster's shared
  state it also records each branch's result in JetStream before sending it
  (:mod:`hal9.network.processed`), so a duplicate that reaches it after a restart is answered
  from that record, not processed again.
* When the branch has ended on the receiver, its result goes back to the sender's
  ``result`` subject. The sender keeps every accepted branch until its result comes, and
  re-sends it every ``resend_interval`` and whenever the receiver restarts (a new instance
  id in its heartbeat): a receiver that crashed with the signal in its mailbox gets it
  again; one that has it answers ``duplicate`` and re-publishes a result it already has.
* A branch whose server has been gone (no heartbeat) for ``delivery_timeout`` fails, whether it
  was accepted or is still being sent: the time counts from the server's last heartbeat.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Self

import structlog

from hal9.config import Config, NetworkConfig
from hal9.errors import NetworkUnavailable
from hal9.metrics.registry import MetricsRegistry
from hal9.network.connection import close_quietly, connect_options
from hal9.network.heartbeat import HeartbeatLoop
from hal9.network.inbox import Inbox
from hal9.network.link import Link
from hal9.network.metrics import Direction, MessageCounts, MessageType, NetworkCollector
from hal9.network.outbox import Outbox
from hal9.network.peers import NetworkStatus, PeerTable, peer_statuses
from hal9.network.processed import ProcessedSignals, SharedBuckets
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.transport import RemoteRouter
from hal9.support.background import service_tasks

if TYPE_CHECKING:
    from hal9.runtime.runtime import Runtime

try:
    import nats
    import nats.errors
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("distributed mode needs nats-py: pip install 'hal9[distributed]'") from exc

__all__ = ["NatsNetwork"]

log = structlog.get_logger("hal9.network")


class NatsNetwork(Service):
    """Connects this server to the others of its cluster; the runtime's :class:`Transport`.

    Composes the parts of one concept each: an :class:`~hal9.network.outbox.Outbox` (sending and
    redelivery), an :class:`~hal9.network.inbox.Inbox` (receiving) and a
    :class:`~hal9.network.heartbeat.HeartbeatLoop` (heartbeats, pings, peer loss), which share
    the connection state through a :class:`~hal9.network.link.Link`.

    Args:
        settings: the ``[network]`` section.
        server_id: this server's id (``server_id`` of the config).
    """

    name = "network"

    def __init__(self, settings: NetworkConfig, server_id: str) -> None:
        if not settings.urls:
            raise ValueError("network.nats_url is not set")
        self.settings = settings
        self.server_id = server_id
        #: Changes every run: peers tell a restart of this server from a pause by it.
        self.instance = os.urandom(8).hex()
        self.peers = PeerTable(settings.heartbeat_interval, settings.max_peers)
        self._link = Link(settings, server_id, self.instance, self._count)
        self.prefix = self._link.prefix
        self._outbox = Outbox(self._link, self.peers)
        self._inbox = Inbox(self._link)
        self._heartbeat = HeartbeatLoop(self._link, self.peers, self._outbox)
        self._messages: MessageCounts | None = None
        self.send_concurrency = settings.send_concurrency
        self._closing = False

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(config.network, config.server_id)

    def on_attached(self, runtime: Runtime) -> None:
        state = runtime.services.get(SharedBuckets) if self.settings.shared else None
        if state is not None:
            settings = self.settings
            self._inbox.processed = ProcessedSignals(state, settings.processed_retention, settings.delivery_timeout)

    def bind_router(self, router: RemoteRouter) -> None:
        self._link.router = router

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._messages = MessageCounts(metrics)
        metrics.register(NetworkCollector(self.server_id, self.peers))

    # -- state for people ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the NATS connection is up."""
        client = self._link.client
        return client is not None and client.is_connected

    @property
    def in_flight(self) -> int:
        """Signals sent to other servers whose result has not come back yet."""
        return len(self._outbox)

    def network_status(self) -> NetworkStatus:
        """What ``GET /api/v1/network`` shows: the connection, the peers, the branches in flight."""
        return NetworkStatus(
            self.server_id,
            self.settings.cluster,
            self.instance,
            self.connected,
            self.in_flight,
            peer_statuses(self.peers),
        )

    def subject(self, server_id: str, kind: str) -> str:
        return self._link.subject(server_id, kind)

    def _count(self, direction: Direction, kind: MessageType) -> None:
        if self._messages is None:
            self._messages = MessageCounts(self.metrics)
        self._messages.count(direction, kind)

    # -- lifecycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Connect, subscribe, and run the heartbeat loop; on exit stop it and close the connection."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        try:
            client = await nats.connect(
                **connect_options(
                    self.settings,
                    self.server_id,
                    on_error=self._on_error,
                    on_disconnected=self._on_disconnected,
                    on_reconnected=self._on_reconnected,
                )
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise NetworkUnavailable(f"cannot connect to NATS at {self.settings.nats_url}: {exc}") from exc
        self._link.client = client
        try:
            if self._inbox.processed is not None:
                await self._inbox.processed.open()
            limit = max(1024, self.settings.max_in_flight)
            await client.subscribe(
                self.subject(self.server_id, "signal"), cb=self._inbox.on_signal, pending_msgs_limit=limit
            )
            await client.subscribe(
                self.subject(self.server_id, "result"), cb=self._outbox.on_result, pending_msgs_limit=limit
            )
            await client.subscribe(self.subject(self.server_id, "ping"), cb=self._heartbeat.on_ping)
            await client.subscribe(f"{self.prefix}.heartbeat", cb=self._heartbeat.on_heartbeat)
            await client.flush()
            async with service_tasks() as tasks:
                self._link.tasks = tasks
                tasks.start_soon(self._heartbeat.run)
                log.info(
                    "network.started", server_id=self.server_id, nats=self.settings.urls, cluster=self.settings.cluster
                )
                try:
                    yield self
                finally:
                    self._link.tasks = None
        finally:
            self._closing = True
            await close_quietly(client, self.settings.connect_timeout)
            self._link.client = None
            log.info("network.stopped", in_flight=self.in_flight)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("network.nats_error", error=type(exc).__name__, detail=str(exc)[:300])

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("network.disconnected")

    async def _on_reconnected(self) -> None:
        log.info("network.reconnected")

    # -- sending --------------------------------------------------------------------------

    async def send(self, signal: Signal, server_id: str) -> None:
        """Deliver ``signal`` to ``server_id`` at least once; return when it is in the target's mailbox.

        Raises:
            NotTransportable: the content is not JSON.
            PeerUnavailable: not accepted within ``network.delivery_timeout``.
            RemoteRejected: the other server refused it for good.
        """
        await self._outbox.send(signal, server_id)
