"""The network's metrics: message counts (fed as they happen) and peer state (read at scrape time)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from prometheus_client import Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.network.peers import PeerTable

Direction = Literal["sent", "received"]
MessageType = Literal["signal", "heartbeat"]


class MessageCounts:
    """``hal9_network_messages_total{direction,type}``, its four series created at zero."""

    def __init__(self, metrics: MetricsRegistry) -> None:
        family = metrics.counter(fam.NETWORK_MESSAGES.name, fam.NETWORK_MESSAGES.help, fam.NETWORK_MESSAGES.labels)
        self._children: dict[tuple[str, str], Counter] = {
            (direction, kind): family.labels(direction, kind)
            for direction in ("sent", "received")
            for kind in ("signal", "heartbeat")
        }

    def count(self, direction: Direction, kind: MessageType) -> None:
        self._children[direction, kind].inc()


class NetworkCollector(Collector):
    """``hal9_network_servers_connected`` and ``hal9_network_latency_seconds`` from the peer table.

    Read at scrape time, so a gone peer's latency series disappears as soon as it is gone,
    and the series are bounded by the table (``network.max_peers``).
    """

    def __init__(self, server_id: str, peers: PeerTable) -> None:
        self.server_id = server_id
        self.peers = peers

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(fam.NETWORK_SERVERS_CONNECTED.name, fam.NETWORK_SERVERS_CONNECTED.help),
            GaugeMetricFamily(fam.NETWORK_LATENCY.name, fam.NETWORK_LATENCY.help, labels=fam.NETWORK_LATENCY.labels),
        ]

    def collect(self) -> Iterable[Metric]:
        connected = self.peers.connected()
        yield GaugeMetricFamily(
            fam.NETWORK_SERVERS_CONNECTED.name, fam.NETWORK_SERVERS_CONNECTED.help, value=float(len(connected))
        )
        latency = GaugeMetricFamily(
            fam.NETWORK_LATENCY.name, fam.NETWORK_LATENCY.help, labels=fam.NETWORK_LATENCY.labels
        )
        for peer in sorted(connected, key=lambda p: p.server_id):
            if peer.latency is not None:
                latency.add_metric([self.server_id, peer.server_id], peer.latency)
        yield latency
