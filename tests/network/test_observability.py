"""The network's metric families and GET /api/v1/network, after real traffic between two runtimes."""

from __future__ import annotations

import httpx
import pytest

from hal9 import Runtime
from hal9.server import create_app
from tests.metrics.test_families import assert_matches_contract, collected
from tests.network.nats_server import NatsServer
from tests.network.support import two_server_config, wait_until
from tests.network.test_routing import wait_connected
from tests.server.helpers import make_config

pytestmark = pytest.mark.anyio

FAMILIES = ("hal9_network_servers_connected", "hal9_network_latency_seconds", "hal9_network_messages_total")


def latency(rt: Runtime, to: str) -> float | None:
    return rt.metrics.sample("hal9_network_latency_seconds", {"from_server": rt.config.server_id, "to_server": to})


async def test_the_three_families_match_the_contract_and_follow_the_peers(nats_server: NatsServer) -> None:
    """Connected peers, a latency series per peer (gone with the peer), messages by direction and type."""
    async with Runtime(two_server_config("a", nats_server.url)) as a:
        async with Runtime(two_server_config("b", nats_server.url)) as b:
            await a.ask("x", timeout=10)
            await wait_connected(a, b)
            await wait_until(lambda: latency(a, "b") is not None and latency(b, "a") is not None)
            for rt in (a, b):
                families = collected(rt)
                for name in FAMILIES:
                    assert_matches_contract(name, families[name])
                assert rt.metrics.sample("hal9_network_servers_connected", {}) == 1
                for direction in ("sent", "received"):
                    heartbeats = rt.metrics.sample(
                        "hal9_network_messages_total", {"direction": direction, "type": "heartbeat"}
                    )
                    assert heartbeats is not None
                    assert heartbeats >= 1
            peer_latency = latency(a, "b")
            assert peer_latency is not None
            assert 0 < peer_latency < 1
        # b has stopped: after three missed heartbeats it is gone, and so is its series.
        await wait_until(lambda: a.metrics.sample("hal9_network_servers_connected", {}) == 0)
        assert latency(a, "b") is None


async def test_get_network_shows_the_peers_their_neurons_heartbeat_and_latency(nats_server: NatsServer) -> None:
    async with (
        Runtime(two_server_config("a", nats_server.url)) as a,
        Runtime(two_server_config("b", nats_server.url)) as b,
    ):
        await wait_connected(a, b)
        await wait_until(lambda: latency(a, "b") is not None)
        transport = httpx.ASGITransport(app=create_app(a))
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            response = await client.get("/api/v1/network")
    assert response.status_code == 200
    body = response.json()
    assert body["server_id"] == "a"
    assert body["enabled"] is True
    assert body["connected"] is True
    assert body["remote_neurons"] == {"design": "b"}
    (peer,) = body["peers"]
    assert peer["server_id"] == "b"
    assert peer["neurons"] == ["design"]
    assert peer["alive"] is True
    assert peer["seconds_since_heartbeat"] < 1
    assert 0 < peer["latency_seconds"] < 1


async def test_get_network_without_distributed_mode_says_it_is_off() -> None:
    async with Runtime(make_config()) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            response = await client.get("/api/v1/network")
    assert response.status_code == 200
    assert response.json() == {
        "server_id": "test",
        "enabled": False,
        "cluster": None,
        "instance": None,
        "connected": False,
        "in_flight": 0,
        "remote_neurons": {},
        "peers": [],
    }


async def test_a_network_without_a_nats_url_is_not_built() -> None:
    """No [network] nats_url: no network service, and no nats import needed."""
    async with Runtime(make_config(services={"llm": "hal9.llm:LLMService"})) as rt:
        assert "network" not in rt.services
        assert rt.metrics.sample("hal9_network_servers_connected", {}) is None
