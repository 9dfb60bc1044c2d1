"""The heartbeat loop: announce this server, ping the peers, and notice the ones that are gone.

Every ``heartbeat_interval`` the loop publishes this server's heartbeat (its instance id and local
neurons), pings every connected peer to measure the latency, logs peers that came and went, and
has the outbox re-send overdue branches and fail those whose server is gone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import structlog

from hal9.network import codec
from hal9.network.link import RETRYABLE, Link
from hal9.network.outbox import Outbox
from hal9.network.peers import PeerTable

if TYPE_CHECKING:
    from nats.aio.msg import Msg

log = structlog.get_logger("hal9.network")


class HeartbeatLoop:
    """Heartbeats and pings between this server and its peers.

    Args:
        link: the connection state shared with the rest of the service.
        peers: the table of the other servers, fed by their heartbeats.
        outbox: the branches in flight, re-sent or failed as their servers come and go.
    """

    def __init__(self, link: Link, peers: PeerTable, outbox: Outbox) -> None:
        self._link = link
        self._peers = peers
        self._outbox = outbox
        self._connected_ids: set[str] = set()

    async def run(self) -> None:
        """Beat until cancelled (by the service's ``stop``)."""
        interval = self._link.settings.heartbeat_interval
        while True:
            try:
                await self._announce()
                async with anyio.create_task_group() as pings:
                    for peer in self._peers.connected():
                        pings.start_soon(self._ping, peer.server_id)
                self._watch()
            except Exception:  # the loop must outlive one bad tick (logged with its traceback)
                log.exception("network.beat_failed")
            await anyio.sleep(interval)

    async def on_ping(self, msg: Msg) -> None:
        """Answer a peer's ping at once: it measures the round trip."""
        self._link.count("received", "heartbeat")
        await msg.respond(b"")

    async def on_heartbeat(self, msg: Msg) -> None:
        """A heartbeat of the cluster: note the peer, and re-send to it if it restarted."""
        link = self._link
        link.count("received", "heartbeat")
        try:
            heartbeat = codec.decode_heartbeat(msg.data)
        except ValueError as exc:
            log.warning("network.bad_heartbeat", error=str(exc)[:300])
            return
        if heartbeat.server_id == link.server_id:
            if heartbeat.instance != link.instance:
                log.error("network.duplicate_server_id", server_id=link.server_id)
            return
        peer, restarted = self._peers.heard(heartbeat)
        if peer is not None and restarted:
            await self._outbox.peer_restarted(peer)

    async def _announce(self) -> None:
        link = self._link
        client = link.client
        if client is None or not client.is_connected:
            return
        router = link.router
        neurons = router.local_neuron_ids if router is not None else ()
        payload = codec.encode_heartbeat(codec.Heartbeat(link.server_id, link.instance, neurons))
        try:
            link.count("sent", "heartbeat")
            await client.publish(f"{link.prefix}.heartbeat", payload)
        except RETRYABLE as exc:
            log.info("network.heartbeat_failed", error=type(exc).__name__)

    async def _ping(self, server_id: str) -> None:
        link = self._link
        client = link.client
        if client is None or not client.is_connected:
            return
        started = time.perf_counter()
        try:
            link.count("sent", "heartbeat")
            await client.request(link.subject(server_id, "ping"), b"", timeout=link.settings.heartbeat_interval)
        except RETRYABLE:
            return
        peer = self._peers.get(server_id)
        if peer is not None:
            peer.latency = time.perf_counter() - started

    def _watch(self) -> None:
        """Log peers that came and went; re-send overdue branches; fail those whose server is gone."""
        now = time.monotonic()
        connected = {peer.server_id for peer in self._peers.connected()}
        for gone in self._connected_ids - connected:
            log.warning("network.peer_gone", peer=gone)
        self._connected_ids = connected
        self._outbox.watch(self._peers, connected, now)
