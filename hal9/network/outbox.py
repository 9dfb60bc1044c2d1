"""Sending signals to other servers at least once, and keeping each branch until its result comes.

The sender asks the receiver's ``signal`` subject and retries with backoff until it answers
``accepted`` or ``duplicate``. It keeps every accepted branch until its result comes, re-sends it
every ``resend_interval`` and whenever the receiver restarts, and fails it with ``PeerUnavailable``
when its server has been gone for ``delivery_timeout`` (the protocol is described in
:mod:`hal9.network.service`).

``delivery_timeout`` counts from the last heartbeat of a server the heartbeats say is gone, not
from the send: a signal for a server gone long ago fails at once, one for a server that has just
gone fails when ``delivery_timeout`` has passed since it was last heard, and a request waiting for
it sees that error rather than its own ``request_timeout``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import structlog

from hal9.errors import PeerUnavailable, RemoteRejected
from hal9.network import codec
from hal9.network.link import RETRYABLE, Link
from hal9.network.peers import Peer, PeerTable
from hal9.runtime.signal import Signal

if TYPE_CHECKING:
    from nats.aio.msg import Msg

log = structlog.get_logger("hal9.network")


@dataclass(slots=True, eq=False)
class Branch:
    """A signal sent to another server and not yet ended there."""

    signal: Signal
    server_id: str
    payload: bytes
    acked: bool = False
    instance: str = ""  # the receiver's instance that accepted it
    sent_at: float = 0.0  # monotonic time of the last send


class Outbox:
    """The branches this server has sent to others: delivery, redelivery, results and failures.

    Args:
        link: the connection state shared with the rest of the service.
        peers: the other servers as their heartbeats describe them; with it, a send to a server
            known to be gone gives up ``delivery_timeout`` after its last heartbeat.
    """

    def __init__(self, link: Link, peers: PeerTable | None = None) -> None:
        self._link = link
        self._peers = peers
        self._in_flight: dict[str, Branch] = {}
        self._room = anyio.Semaphore(link.settings.max_in_flight)

    def __len__(self) -> int:
        """Signals sent to other servers whose result has not come back yet."""
        return len(self._in_flight)

    async def send(self, signal: Signal, server_id: str) -> None:
        """Deliver ``signal`` to ``server_id`` at least once; return when it is in the target's mailbox.

        Raises:
            NotTransportable: the content is not JSON.
            PeerUnavailable: not accepted within ``network.delivery_timeout``.
            RemoteRejected: the other server refused it for good.
        """
        settings = self._link.settings
        payload = codec.encode_signal(signal, self._link.server_id)
        deadline = time.monotonic() + settings.delivery_timeout
        with anyio.move_on_after(settings.delivery_timeout) as waiting:
            await self._room.acquire()
        if waiting.cancelled_caught:
            raise PeerUnavailable(server_id, signal.target, settings.delivery_timeout, "too many signals in flight")
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
        link = self._link
        subject = link.subject(branch.server_id, "signal")
        target = branch.signal.target
        delay = 0.01
        reason = "no answer"
        while branch.signal.id in self._in_flight:  # else its result came before any ack did
            gone_since = self._gone_since(branch.server_id)
            if gone_since is not None:
                deadline = min(deadline, gone_since + link.settings.delivery_timeout)
                if time.monotonic() >= deadline:
                    raise self._gone(branch, gone_since)
            client = link.client
            if client is None:
                raise PeerUnavailable(branch.server_id, target, 0, "the network service is not running")
            attempt = min(link.settings.ack_timeout, max(deadline - time.monotonic(), 0.001))
            try:
                link.count("sent", "signal")
                reply = await client.request(subject, branch.payload, timeout=attempt)
            except RETRYABLE as exc:
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
                gone_since = self._gone_since(branch.server_id)
                if gone_since is not None:
                    raise self._gone(branch, gone_since)
                raise PeerUnavailable(branch.server_id, target, link.settings.delivery_timeout, reason)
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 2, link.settings.heartbeat_interval)

    def _gone_since(self, server_id: str) -> float | None:
        """When a server the heartbeats say is gone was last heard from (monotonic); None if alive or unknown."""
        peers = self._peers
        if peers is None:
            return None
        peer = peers.get(server_id)
        if peer is None or peers.alive(peer):
            return None
        return peer.last_seen

    @staticmethod
    def _gone(branch: Branch, gone_since: float) -> PeerUnavailable:
        waited = round(time.monotonic() - gone_since, 1)
        return PeerUnavailable(branch.server_id, branch.signal.target, waited, "the server is gone (no heartbeat)")

    def _release(self, signal_id: str) -> Branch | None:
        branch = self._in_flight.pop(signal_id, None)
        if branch is not None:
            self._room.release()
        return branch

    async def _resend(self, branch: Branch) -> None:
        """Send an accepted branch again, without waiting: its result is overdue or its server restarted."""
        link = self._link
        client = link.client
        if client is None:
            return
        branch.sent_at = time.monotonic()
        try:
            link.count("sent", "signal")
            await client.publish(link.subject(branch.server_id, "signal"), branch.payload)
        except RETRYABLE as exc:
            log.info("network.resend_failed", peer=branch.server_id, error=type(exc).__name__)

    async def on_result(self, msg: Msg) -> None:
        """A branch ended on the other server: settle it (once; a duplicate result is dropped)."""
        link = self._link
        link.count("received", "signal")
        try:
            result = codec.decode_result(msg.data)
        except ValueError as exc:
            log.warning("network.bad_result", error=str(exc)[:300])
            return
        branch = self._release(result.signal_id)
        if branch is None or link.router is None:
            return  # a duplicate result: the branch was settled by the first
        link.router.remote_done(branch.signal.trace_id, result.outputs, result.errors, result.hops)

    async def peer_restarted(self, peer: Peer) -> None:
        """What the old instance of ``peer`` had accepted died with it: send it again."""
        for branch in list(self._in_flight.values()):
            if branch.acked and branch.server_id == peer.server_id and branch.instance != peer.instance:
                await self._resend(branch)

    def watch(self, peers: PeerTable, connected: set[str], now: float) -> None:
        """Re-send overdue branches; fail those whose server is gone (called on every heartbeat tick)."""
        settings = self._link.settings
        for branch in list(self._in_flight.values()):
            if not branch.acked:
                continue
            peer = peers.get(branch.server_id)
            last_seen = max(peer.last_seen if peer is not None else 0.0, branch.sent_at)
            if branch.server_id not in connected and now - last_seen >= settings.delivery_timeout:
                self._fail(branch, now - last_seen)
            elif branch.server_id in connected and now - branch.sent_at >= settings.resend_interval:
                assert self._link.tasks is not None
                self._link.tasks.start_soon(self._resend, branch)

    def _fail(self, branch: Branch, waited: float) -> None:
        router = self._link.router
        if self._release(branch.signal.id) is None or router is None:
            return
        signal = branch.signal
        exc = PeerUnavailable(branch.server_id, signal.target, round(waited, 1), "the server is gone (no heartbeat)")
        log.warning("signal.remote_failed", target=signal.target, server=branch.server_id, error=str(exc))
        router.remote_failed(signal.trace_id, signal.target, signal.id, exc)
