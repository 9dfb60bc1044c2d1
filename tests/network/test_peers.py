"""The peer table: liveness from heartbeats, restarts, and its bound."""

from __future__ import annotations

import time

from hal9.network.codec import Heartbeat
from hal9.network.peers import MISSED_HEARTBEATS, PeerTable


def beat(server_id: str, instance: str = "i1") -> Heartbeat:
    return Heartbeat(server_id, instance, ("n1",))


def test_a_peer_missing_three_heartbeats_is_gone_and_back_with_the_next() -> None:
    table = PeerTable(interval=1.0, max_peers=4)
    peer, restarted = table.heard(beat("b"))
    assert peer is not None
    assert not restarted
    assert [p.server_id for p in table.connected()] == ["b"]
    peer.last_seen = time.monotonic() - MISSED_HEARTBEATS * 1.0  # three intervals without a heartbeat
    assert table.connected() == []
    table.heard(beat("b"))
    assert [p.server_id for p in table.connected()] == ["b"]


def test_a_new_instance_id_is_a_restart_and_forgets_the_latency() -> None:
    table = PeerTable(interval=1.0, max_peers=4)
    peer, _ = table.heard(beat("b", "first"))
    assert peer is not None
    peer.latency = 0.001
    same, restarted = table.heard(beat("b", "second"))
    assert same is peer
    assert restarted
    assert peer.latency is None


def test_the_table_is_bounded_and_a_gone_peer_makes_room() -> None:
    table = PeerTable(interval=1.0, max_peers=2)
    first, _ = table.heard(beat("b"))
    table.heard(beat("c"))
    refused, _ = table.heard(beat("d"))
    assert refused is None
    assert sorted(p.server_id for p in table.snapshot()) == ["b", "c"]
    assert first is not None
    first.last_seen -= MISSED_HEARTBEATS * 1.0
    admitted, _ = table.heard(beat("d"))
    assert admitted is not None
    assert sorted(p.server_id for p in table.snapshot()) == ["c", "d"]
