"""The network service: signals, results, heartbeats and pings between HAL9 servers over NATS.

Delivery is at-least-once over core NATS request-reply (no JetStream; why in the README):

* The sender asks ``hal9.<cluster>.<server>.signal`` and retries with backoff until the
  receiver answers ``accepted`` (the signal is in the target's mailbox) or ``duplicate``;
  ``full`` (mailbox full) and ``unavailable`` (draining) are backpressure: it retries. After
  ``network.delivery_timeout`` without acceptance the branch fails with ``PeerUnavailable``.
* The receiver keys the branch's trace by the signal id, so a duplicate is recognised (a
  bounded set: the runtime's trace history) and not delivered twice.
* When the branch has ended on the receiver, its result goes back to the sender's
  ``result`` subject. The sender keeps every accepted branch until its result comes, and
  re-sends it every ``resend_interval`` and whenever the receiver restarts (a new instance
  id in its heartbeat): a receiver that crashed with the signal in its mailbox gets it
  again; one that has it answers ``duplicate`` and re-publishes a result it already has.
* A branch whose server has been gone (no heartbeat) for ``delivery_timeout`` fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Self

import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.config import Config, NetworkConfig
from hal9.errors import (
    MailboxFull,
    NetworkUnavailable,
    NeuronNotFound,
    NeuronStopped,
    PeerUnavailable,
    RemoteRejected,
    RuntimeNotRunning,
)
from hal9.metrics.registry import MetricsRegistry
from hal9.network import codec
from hal9.network.connection import connect_options
from hal9.network.metrics import Direction, MessageCounts, MessageType, NetworkCollector
from hal9.network.peers import NetworkStatus, PeerTable, peer_statuses
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.trace import Trace
from hal9.runtime.transport import RemoteRouter

try:
    import nats
    import nats.errors
    from nats.aio.client import Client
    from nats.aio.msg import Msg
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("distributed mode needs nats-py: pip install 'hal9[distributed]'") from exc

log = structlog.get_logger("hal9.network")

#: Errors of one NATS request that a retry may cure (no answer, no subscriber yet, reconnecting).
_RETRYABLE = (nats.errors.Error, TimeoutError, OSError)


@dataclass(slots=True, eq=False)
class Branch:
    """A signal sent to another server and not yet ended there."""

    signal: Signal
    server_id: str
    payload: bytes
    acked: bool = False
    instance: str = ""  # the receiver's instance that accepted it
    sent_at: float = 0.0  # monotonic time of the last send


class NatsNetwork(Service):
    """Connects this server to the others of its cluster; the runtime's :class:`Transport`.

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
        self.prefix = f"hal9.{settings.cluster}"
        self._router: RemoteRouter | None = None
        self._client: Client | None = None
        self._tasks: TaskGroup | None = None
        self._in_flight: dict[str, Branch] = {}
        self._room = anyio.Semaphore(settings.max_in_flight)
        self._messages: MessageCounts | None = None
        self._connected_ids: set[str] = set()
        self.send_concurrency = settings.send_concurrency
        self._closing = False

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(config.network, config.server_id)

    def bind_router(self, router: RemoteRouter) -> None:
        self._router = router

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._messages = MessageCounts(metrics)
        metrics.register(NetworkCollector(self.server_id, self.peers))

    # -- state for people ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the NATS connection is up."""
        return self._client is not None and self._client.is_connected

    @property
    def in_flight(self) -> int:
        """Signals sent to other servers whose result has not come back yet."""
        return len(self._in_flight)

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
        return f"{self.prefix}.{server_id}.{kind}"

    def _count(self, direction: Direction, kind: MessageType) -> None:
        if self._messages is None:
            self._messages = MessageCounts(self.metrics)
        self._messages.count(direction, kind)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, subscribe, and start the heartbeat loop (in a task group left in :meth:`stop`)."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        try:
            self._client = await nats.connect(
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
        client = self._client
        limit = max(1024, self.settings.max_in_flight)
        await client.subscribe(self.subject(self.server_id, "signal"), cb=self._on_signal, pending_msgs_limit=limit)
        await client.subscribe(self.subject(self.server_id, "result"), cb=self._on_result, pending_msgs_limit=limit)
        await client.subscribe(self.subject(self.server_id, "ping"), cb=self._on_ping)
        await client.subscribe(f"{self.prefix}.heartbeat", cb=self._on_heartbeat)
        await client.flush()
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        tasks.start_soon(self._beat)
        log.info("network.started", server_id=self.server_id, nats=self.settings.urls, cluster=self.settings.cluster)

    async def stop(self) -> None:
        tasks, client = self._tasks, self._client
        self._tasks = None
        if tasks is not None:
            tasks.cancel_scope.cancel()
            await tasks.__aexit__(None, None, None)
        if client is not None:
            self._closing = True
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.settings.connect_timeout):
                await client.close()
            self._client = None
        log.info("network.stopped", in_flight=len(self._in_flight))

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
        payload = codec.encode_signal(signal, self.server_id)
        deadline = time.monotonic() + self.settings.delivery_timeout
        with anyio.move_on_after(self.settings.delivery_timeout) as waiting:
            await self._room.acquire()
        if waiting.cancelled_caught:
            raise PeerUnavailable(
                server_id, signal.target, self.settings.delivery_timeout, "too many signals in flight"
            )
        # Registered before the first attempt: the result may come before the ack is read.
        branch = Branch(signal, server_id, payload)
        self._in_flight[signal.id] = branch
        try:
            await self._deliver(branch, deadline)
        except BaseException as exc:
            if self._release(signal.id) is None and isinstance(exc, Exception):
                return  # its result came (the acks were lost): the branch has ended, it must not fail too
            raise

    async def _deliver(self, branch: Branch, deadline: float) -> None:
        subject = self.subject(branch.server_id, "signal")
        target = branch.signal.target
        delay = 0.01
        reason = "no answer"
        while branch.signal.id in self._in_flight:  # else its result came before any ack did
            client = self._client
            if client is None:
                raise PeerUnavailable(branch.server_id, target, 0, "the network service is not running")
            attempt = min(self.settings.ack_timeout, max(deadline - time.monotonic(), 0.001))
            try:
                self._count("sent", "signal")
                reply = await client.request(subject, branch.payload, timeout=attempt)
            except _RETRYABLE as exc:
                reason = f"no answer ({type(exc).__name__})"
            else:
                try:
                    status, instance, message = codec.decode_ack(reply.data)
                except ValueError as exc:
                    raise RemoteRejected(f"server {branch.server_id!r} answered with {exc}") from None
                if status in ("accepted", "duplicate"):
                    branch.acked, branch.instance, branch.sent_at = True, instance, time.monotonic()
                    return
                if status == "error":
                    raise RemoteRejected(f"server {branch.server_id!r} refused the signal for {target!r}: {message}")
                reason = message or status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerUnavailable(branch.server_id, target, self.settings.delivery_timeout, reason)
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 2, self.settings.heartbeat_interval)

    def _release(self, signal_id: str) -> Branch | None:
        branch = self._in_flight.pop(signal_id, None)
        if branch is not None:
            self._room.release()
        return branch

    async def _resend(self, branch: Branch) -> None:
        """Send an accepted branch again, without waiting: its result is overdue or its server restarted."""
        client = self._client
        if client is None:
            return
        branch.sent_at = time.monotonic()
        try:
            self._count("sent", "signal")
            await client.publish(self.subject(branch.server_id, "signal"), branch.payload)
        except _RETRYABLE as exc:
            log.info("network.resend_failed", peer=branch.server_id, error=type(exc).__name__)

    # -- receiving ------------------------------------------------------------------------

    async def _on_signal(self, msg: Msg) -> None:
        self._count("received", "signal")
        try:
            signal, sender = codec.decode_signal(msg.data)
        except ValueError as exc:
            log.warning("network.bad_signal", error=str(exc)[:300])
            await self._answer(msg, "error", str(exc))
            return
        router = self._router
        if router is None or self._tasks is None:
            await self._answer(msg, "unavailable", "not running")
            return
        try:
            trace, new = router.accept_remote(signal)
        except MailboxFull as exc:
            await self._answer(msg, "full", str(exc))
            return
        except (RuntimeNotRunning, NeuronStopped) as exc:
            await self._answer(msg, "unavailable", str(exc))
            return
        except NeuronNotFound as exc:
            await self._answer(msg, "error", str(exc))
            return
        await self._answer(msg, "accepted" if new else "duplicate")
        if new:
            self._tasks.start_soon(self._reply_when_done, trace, sender)
        elif trace.finished_at is not None:
            # The sender still waits for this branch: the first result was lost.
            await self._publish_result(trace, sender)

    async def _answer(self, msg: Msg, status: codec.AckStatus, message: str = "") -> None:
        if not msg.reply:
            return  # a re-send: its sender does not wait for an answer
        try:
            await msg.respond(codec.encode_ack(status, self.instance, message[:500]))
        except _RETRYABLE as exc:
            log.info("network.ack_failed", error=type(exc).__name__)

    async def _reply_when_done(self, trace: Trace, sender: str) -> None:
        await trace.done.wait()
        await self._publish_result(trace, sender)

    async def _publish_result(self, trace: Trace, sender: str) -> None:
        client = self._client
        if client is None:
            return
        payload = codec.encode_result(trace.id, trace.outputs, trace.errors, trace.hops)
        try:
            self._count("sent", "signal")
            await client.publish(self.subject(sender, "result"), payload)
        except _RETRYABLE as exc:
            # The sender re-sends the signal until a result comes; this one is answered again then.
            log.info("network.result_failed", peer=sender, error=type(exc).__name__)

    async def _on_result(self, msg: Msg) -> None:
        self._count("received", "signal")
        try:
            result = codec.decode_result(msg.data)
        except ValueError as exc:
            log.warning("network.bad_result", error=str(exc)[:300])
            return
        branch = self._release(result.signal_id)
        if branch is None or self._router is None:
            return  # a duplicate result: the branch was settled by the first
        self._router.remote_done(branch.signal.trace_id, result.outputs, result.errors, result.hops)

    async def _on_ping(self, msg: Msg) -> None:
        self._count("received", "heartbeat")
        await msg.respond(b"")

    async def _on_heartbeat(self, msg: Msg) -> None:
        self._count("received", "heartbeat")
        try:
            heartbeat = codec.decode_heartbeat(msg.data)
        except ValueError as exc:
            log.warning("network.bad_heartbeat", error=str(exc)[:300])
            return
        if heartbeat.server_id == self.server_id:
            if heartbeat.instance != self.instance:
                log.error("network.duplicate_server_id", server_id=self.server_id)
            return
        peer, restarted = self.peers.heard(heartbeat)
        if peer is not None and restarted:
            # What the old instance had accepted died with it: send it again.
            for branch in list(self._in_flight.values()):
                if branch.acked and branch.server_id == peer.server_id and branch.instance != peer.instance:
                    await self._resend(branch)

    # -- the heartbeat loop ---------------------------------------------------------------

    async def _beat(self) -> None:
        interval = self.settings.heartbeat_interval
        while True:
            try:
                await self._announce()
                async with anyio.create_task_group() as pings:
                    for peer in self.peers.connected():
                        pings.start_soon(self._ping, peer.server_id)
                self._watch()
            except Exception:  # the loop must outlive one bad tick (logged with its traceback)
                log.exception("network.beat_failed")
            await anyio.sleep(interval)

    async def _announce(self) -> None:
        client = self._client
        if client is None or not client.is_connected:
            return
        router = self._router
        neurons = router.local_neuron_ids if router is not None else ()
        payload = codec.encode_heartbeat(codec.Heartbeat(self.server_id, self.instance, neurons))
        try:
            self._count("sent", "heartbeat")
            await client.publish(f"{self.prefix}.heartbeat", payload)
        except _RETRYABLE as exc:
            log.info("network.heartbeat_failed", error=type(exc).__name__)

    async def _ping(self, server_id: str) -> None:
        client = self._client
        if client is None or not client.is_connected:
            return
        started = time.perf_counter()
        try:
            self._count("sent", "heartbeat")
            await client.request(self.subject(server_id, "ping"), b"", timeout=self.settings.heartbeat_interval)
        except _RETRYABLE:
            return
        peer = self.peers.get(server_id)
        if peer is not None:
            peer.latency = time.perf_counter() - started

    def _watch(self) -> None:
        """Log peers that came and went; re-send overdue branches; fail those whose server is gone."""
        now = time.monotonic()
        connected = {peer.server_id for peer in self.peers.connected()}
        for gone in self._connected_ids - connected:
            log.warning("network.peer_gone", peer=gone)
        self._connected_ids = connected
        for branch in list(self._in_flight.values()):
            if not branch.acked:
                continue
            peer = self.peers.get(branch.server_id)
            last_seen = max(peer.last_seen if peer is not None else 0.0, branch.sent_at)
            if branch.server_id not in connected and now - last_seen >= self.settings.delivery_timeout:
                self._fail(branch, now - last_seen)
            elif branch.server_id in connected and now - branch.sent_at >= self.settings.resend_interval:
                assert self._tasks is not None
                self._tasks.start_soon(self._resend, branch)

    def _fail(self, branch: Branch, waited: float) -> None:
        if self._release(branch.signal.id) is None or self._router is None:
            return
        signal = branch.signal
        exc = PeerUnavailable(branch.server_id, signal.target, round(waited, 1), "the server is gone (no heartbeat)")
        log.warning("signal.remote_failed", target=signal.target, server=branch.server_id, error=str(exc))
        self._router.remote_failed(signal.trace_id, signal.target, signal.id, exc)
