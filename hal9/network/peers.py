"""The other servers of the cluster, as their heartbeats describe them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog

from hal9.network.codec import Heartbeat

log = structlog.get_logger("hal9.network")

#: A peer missing this many heartbeat intervals is gone.
MISSED_HEARTBEATS = 3


@dataclass(slots=True)
class Peer:
    """One other server: what its last heartbeat said, when it came, and the last ping's round trip."""

    server_id: str
    instance: str
    neurons: tuple[str, ...]
    last_seen: float  # time.monotonic()
    last_heartbeat: float  # wall clock, for people
    latency: float | None = None


class PeerTable:
    """Peers by server id, bounded: at most ``max_peers`` (a gone peer makes room for a new one).

    Written on the event loop; read by the scrape collector, possibly in another thread,
    through :meth:`snapshot` (a copy made at C level).
    """

    def __init__(self, interval: float, max_peers: int) -> None:
        self.interval = interval
        self.max_peers = max_peers
        self._peers: dict[str, Peer] = {}
        self._refused: set[str] = set()

    def heard(self, heartbeat: Heartbeat) -> tuple[Peer | None, bool]:
        """Record a heartbeat; returns the peer (None if refused for room) and whether it restarted."""
        now = time.monotonic()
        peer = self._peers.get(heartbeat.server_id)
        if peer is None:
            if len(self._peers) >= self.max_peers and not self._evict_gone(now):
                if heartbeat.server_id not in self._refused and len(self._refused) < self.max_peers:
                    self._refused.add(heartbeat.server_id)
                    log.warning("network.peer_refused", peer=heartbeat.server_id, max_peers=self.max_peers)
                return None, False
            peer = Peer(heartbeat.server_id, heartbeat.instance, heartbeat.neurons, now, time.time())
            self._peers[peer.server_id] = peer
            log.info("network.peer_joined", peer=peer.server_id, neurons=list(peer.neurons))
            return peer, False
        restarted = peer.instance != heartbeat.instance
        if restarted:
            log.info("network.peer_restarted", peer=peer.server_id)
            peer.instance = heartbeat.instance
            peer.latency = None
        elif not self.alive(peer, now):
            log.info("network.peer_back", peer=peer.server_id)
        peer.neurons = heartbeat.neurons
        peer.last_seen = now
        peer.last_heartbeat = time.time()
        return peer, restarted

    def _evict_gone(self, now: float) -> bool:
        for server_id, peer in list(self._peers.items()):
            if not self.alive(peer, now):
                del self._peers[server_id]
                return True
        return False

    def alive(self, peer: Peer, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - peer.last_seen < MISSED_HEARTBEATS * self.interval

    def get(self, server_id: str) -> Peer | None:
        return self._peers.get(server_id)

    def snapshot(self) -> list[Peer]:
        return list(self._peers.values())

    def connected(self) -> list[Peer]:
        """The peers alive now (heard from within the last three intervals)."""
        now = time.monotonic()
        return [peer for peer in self.snapshot() if self.alive(peer, now)]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One peer as ``GET /api/v1/network`` shows it."""

    server_id: str
    instance: str
    neurons: tuple[str, ...]
    alive: bool
    last_heartbeat: float
    seconds_since_heartbeat: float
    latency_seconds: float | None


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """This server's view of the cluster."""

    server_id: str
    cluster: str
    instance: str
    connected: bool
    in_flight: int
    peers: tuple[PeerStatus, ...]


@runtime_checkable
class NetworkStatusSource(Protocol):
    """A service that can describe the network (the NATS service); the server finds it by this."""

    def network_status(self) -> NetworkStatus: ...


def peer_statuses(table: PeerTable) -> tuple[PeerStatus, ...]:
    now = time.monotonic()
    return tuple(
        PeerStatus(
            peer.server_id,
            peer.instance,
            peer.neurons,
            table.alive(peer, now),
            peer.last_heartbeat,
            round(now - peer.last_seen, 3),
            peer.latency if table.alive(peer, now) else None,
        )
        for peer in sorted(table.snapshot(), key=lambda p: p.server_id)
    )
