"""Two real ``python -m hal9 serve`` processes from examples/distributed/, over a real nats-server."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import ServerProcess, value
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[2] / "examples" / "distributed"


def start(servers: list[ServerProcess], tmp_path: Path, name: str, nats: NatsServer, **env: str) -> ServerProcess:
    """One server of the example network, as it is, with the NATS URL and fast heartbeats from the environment."""
    environment = {"HAL9_NETWORK__NATS_URL": nats.url, "HAL9_NETWORK__HEARTBEAT_INTERVAL": "0.2", **env}
    server = ServerProcess(tmp_path, EXAMPLES / f"{name}.toml", environment)
    servers.append(server)
    server.wait_listening()
    return server


def wait_for(check: Any, deadline: float = 20.0) -> Any:
    """Poll a real server (over HTTP) until ``check()`` returns something truthy."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)


def peer_alive(server: ServerProcess, peer: str) -> bool:
    body = httpx.get(f"{server.url}/api/v1/network", timeout=5).json()
    return any(p["server_id"] == peer and p["alive"] and p["latency_seconds"] for p in body["peers"])


def finished(server: ServerProcess, request_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = httpx.get(f"{server.url}/api/v1/signals/{request_id}", timeout=5).json()
    return None if body["status"] == "pending" else body


def test_a_request_to_one_server_completes_through_the_other(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """strategic (a) -> design (b) -> implementation (a); both scrapes show the network with their ids and counts."""
    a = start(servers, tmp_path, "server-a", nats_server)
    b = start(servers, tmp_path, "server-b", nats_server)
    wait_for(lambda: peer_alive(a, "server-b") and peer_alive(b, "server-a"))

    response = httpx.post(f"{a.url}/api/v1/signals", json={"content": "Build a todo app", "wait": True}, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "completed", result
    assert len(result["outputs"]) == 2  # the mock's two directives, each designed on b, implemented on a
    assert all(output.startswith("Implemented:") for output in result["outputs"])
    assert sorted(hop["neuron_id"] for hop in result["path"]).count("design") == 2

    scrape_a, scrape_b = a.scrape(), b.scrape()
    for scrape, me, peer in ((scrape_a, "server-a", "server-b"), (scrape_b, "server-b", "server-a")):
        assert value(scrape, "hal9_network_servers_connected") == 1
        latency = value(scrape, "hal9_network_latency_seconds", from_server=me, to_server=peer)
        assert latency is not None
        assert 0 < latency < 1
        # 2 signals a -> b, 2 signals b -> a, and each branch's result back: 4 each way.
        assert value(scrape, "hal9_network_messages_total", direction="sent", type="signal") == 4
        assert value(scrape, "hal9_network_messages_total", direction="received", type="signal") == 4
        for direction in ("sent", "received"):
            heartbeats = value(scrape, "hal9_network_messages_total", direction=direction, type="heartbeat")
            assert heartbeats is not None
            assert heartbeats >= 1
    assert value(scrape_b, "hal9_signals_processed_total", neuron_id="design", layer="L3", status="success") == 2
    assert (
        value(scrape_a, "hal9_signals_processed_total", neuron_id="implementation", layer="L2", status="success") == 2
    )
    # b runs no top-layer neuron: a request sent there is misdirected, and told where to go.
    misdirected = httpx.post(f"{b.url}/api/v1/signals", json={"content": "here?"}, timeout=10)
    assert misdirected.status_code == 421
    assert "send them to the server of the top-layer neurons" in misdirected.json()["detail"]
    # Each server exposes only its own neurons.
    assert value(scrape_a, "hal9_neuron_health", neuron_id="design", layer="L3") is None


def test_killing_the_other_server_mid_load_loses_no_request(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """b is killed (SIGKILL) with signals in its mailbox and restarted: every request completes, none twice."""
    slow = {"HAL9_LLM__MOCK__LATENCY_SECONDS": "0.1", "HAL9_NETWORK__DELIVERY_TIMEOUT": "60"}
    a = start(servers, tmp_path, "server-a", nats_server, **slow)
    b = start(servers, tmp_path, "server-b", nats_server, **slow)
    wait_for(lambda: peer_alive(a, "server-b"))
    requests = [
        httpx.post(f"{a.url}/api/v1/signals", json={"content": f"task {i}"}, timeout=10).json()["id"] for i in range(8)
    ]
    # Once b has done some of the work, and has more queued, it dies.
    wait_for(
        lambda: (
            (value(b.scrape(), "hal9_signals_processed_total", neuron_id="design", layer="L3", status="success") or 0)
            >= 2
        )
    )
    b.stop(signal.SIGKILL)
    b2 = start(servers, tmp_path, "server-b", nats_server, **slow)
    results = [wait_for(lambda r=r: finished(a, r), deadline=60) for r in requests]
    # What b had accepted and not finished was sent again, to its next run.
    assert (
        value(b2.scrape(), "hal9_signals_processed_total", neuron_id="design", layer="L3", status="success") or 0
    ) >= 1
    for i, result in enumerate(results):
        assert result["status"] == "completed", result
        # Exactly the two outputs of the request: nothing lost, nothing merged twice.
        assert len(result["outputs"]) == 2, result["outputs"]
        assert all(f"task {i}" in output for output in result["outputs"]), result["outputs"]


def test_after_a_nats_restart_both_servers_reconnect_and_work_resumes(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """NATS goes down with a request accepted by a; once it is back, both reconnect and the request completes.

    During the outage a refuses new requests (503): it cannot record them in JetStream, and a 202
    is given only for a request that is recorded.
    """
    slow = {"HAL9_LLM__MOCK__LATENCY_SECONDS": "0.3"}
    a = start(servers, tmp_path, "server-a", nats_server, **slow)
    b = start(servers, tmp_path, "server-b", nats_server, **slow)
    wait_for(lambda: peer_alive(a, "server-b") and peer_alive(b, "server-a"))
    request = httpx.post(f"{a.url}/api/v1/signals", json={"content": "before the outage"}, timeout=10).json()["id"]
    nats_server.stop()
    wait_for(lambda: not peer_alive(a, "server-b"))
    refused = httpx.post(f"{a.url}/api/v1/signals", json={"content": "during the outage"}, timeout=30)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert "could not be recorded" in refused.json()["detail"]
    nats_server.start()
    wait_for(lambda: peer_alive(a, "server-b") and peer_alive(b, "server-a"))
    result = wait_for(lambda: finished(a, request), deadline=30)
    assert result["status"] == "completed", result
    assert len(result["outputs"]) == 2
    response = httpx.post(f"{a.url}/api/v1/signals", json={"content": "after it", "wait": True}, timeout=30)
    assert response.json()["status"] == "completed"


def test_a_server_that_never_comes_back_fails_its_signals_within_the_configured_time(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """b dies with both signals of a request; they fail with a clear error after network.delivery_timeout."""
    settings = {"HAL9_LLM__MOCK__LATENCY_SECONDS": "5", "HAL9_NETWORK__DELIVERY_TIMEOUT": "2"}
    a = start(servers, tmp_path, "server-a", nats_server, **settings)
    b = start(servers, tmp_path, "server-b", nats_server, **settings)
    wait_for(lambda: peer_alive(a, "server-b"))
    request = httpx.post(f"{a.url}/api/v1/signals", json={"content": "never done"}, timeout=10).json()["id"]
    # Both signals at b (each in a 5 s mock call, the design neuron working on several at once).
    wait_for(lambda: value(b.scrape(), "hal9_network_messages_total", direction="received", type="signal") == 2)
    b.stop(signal.SIGKILL)
    killed = time.monotonic()
    result = wait_for(lambda: finished(a, request), deadline=30)
    waited = time.monotonic() - killed
    assert result["status"] == "failed", result
    assert [e["error"] for e in result["errors"]] == ["PeerUnavailable", "PeerUnavailable"]
    assert "server 'server-b'" in result["errors"][0]["message"]
    assert "gone" in result["errors"][0]["message"]
    # 2 s (the delivery timeout) after b's last heartbeat, which came up to one interval (0.2 s)
    # before the kill; checked once per heartbeat.
    assert 1.8 <= waited < 6.0
