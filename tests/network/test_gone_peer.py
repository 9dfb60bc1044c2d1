"""A server known to be gone: requests that need it fail as soon as delivery_timeout allows, /ready says so."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from hal9 import Runtime
from hal9.network.peers import PeerStatus
from hal9.server import create_app
from tests.network.nats_server import NatsServer
from tests.network.support import two_server_config, wait_until
from tests.network.test_routing import network_of, wait_connected

pytestmark = pytest.mark.anyio

DELIVERY_TIMEOUT = 2.0


def peer(runtime: Runtime, server_id: str) -> PeerStatus | None:
    return next((p for p in network_of(runtime).network_status().peers if p.server_id == server_id), None)


def gone_for(runtime: Runtime, server_id: str, seconds: float) -> bool:
    status = peer(runtime, server_id)
    return status is not None and not status.alive and status.seconds_since_heartbeat >= seconds


async def test_a_request_for_a_server_gone_longer_than_the_delivery_timeout_fails_at_once(
    nats_server: NatsServer,
) -> None:
    """b's peer entry says alive: false for longer than delivery_timeout: wait=true answers 502 at once, not 504."""
    config = two_server_config("a", nats_server.url, delivery_timeout=DELIVERY_TIMEOUT)
    config = config.model_copy(update={"server": config.server.model_copy(update={"request_timeout": 30.0})})
    async with Runtime(config) as a:
        transport = httpx.ASGITransport(app=create_app(a))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # b not heard from yet: the server is up but cannot serve the whole network.
            waiting = await client.get("/ready")
            assert waiting.status_code == 503
            assert waiting.json() == {"status": "degraded", "servers_gone": {"b": ["design"]}}

            with anyio.CancelScope() as b_scope:
                async with Runtime(two_server_config("b", nats_server.url, delivery_timeout=DELIVERY_TIMEOUT)) as b:
                    await wait_connected(a, b)
                    assert (await client.get("/ready")).json() == {"status": "ready"}
                    b_scope.cancel()  # b goes away: no more heartbeats, no drain
                    await anyio.sleep_forever()
            await wait_until(lambda: gone_for(a, "b", 0.0))
            degraded = await client.get("/ready")
            assert degraded.status_code == 503
            assert degraded.json() == {"status": "degraded", "servers_gone": {"b": ["design"]}}

            await wait_until(lambda: gone_for(a, "b", DELIVERY_TIMEOUT))
            started = time.monotonic()
            response = await client.post("/api/v1/signals", json={"content": "x", "wait": True})
            elapsed = time.monotonic() - started

    assert response.status_code == 502, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert [e["error"] for e in body["errors"]] == ["PeerUnavailable", "PeerUnavailable"]
    assert "server 'b'" in body["errors"][0]["message"]
    assert "gone" in body["errors"][0]["message"]
    # Without the peer table it would be delivery_timeout from the send (2 s, retrying a dead subject).
    assert elapsed < DELIVERY_TIMEOUT / 2


async def test_a_request_for_a_server_that_has_just_gone_fails_delivery_timeout_after_its_last_heartbeat(
    nats_server: NatsServer,
) -> None:
    """b has just gone: the send gives up delivery_timeout after b's last heartbeat, not after the send."""
    async with Runtime(two_server_config("a", nats_server.url, delivery_timeout=DELIVERY_TIMEOUT)) as a:
        with anyio.CancelScope() as b_scope:
            async with Runtime(two_server_config("b", nats_server.url, delivery_timeout=DELIVERY_TIMEOUT)) as b:
                await wait_connected(a, b)
                b_scope.cancel()
                await anyio.sleep_forever()
        await wait_until(lambda: gone_for(a, "b", 1.0))  # gone, but not for delivery_timeout yet
        status = peer(a, "b")
        assert status is not None
        last_heard = time.monotonic() - status.seconds_since_heartbeat
        result = await a.ask("x", timeout=10)
        failed_after_last_heartbeat = time.monotonic() - last_heard
    assert [e.error for e in result.errors] == ["PeerUnavailable", "PeerUnavailable"]
    # delivery_timeout after the last heartbeat (plus a retry's wait), well before send + delivery_timeout,
    # which is at least delivery_timeout + 1 s after it.
    assert DELIVERY_TIMEOUT <= failed_after_last_heartbeat < DELIVERY_TIMEOUT + 0.6
