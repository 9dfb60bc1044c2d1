"""A real server's /ws: a connected client sees the events of a request sent over HTTP."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.cli.helpers import StartServer, poll_sample

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

WS_GAUGE = "hal9_websocket_connections_active"


async def test_websocket_client_receives_the_events_of_a_request(start_server: StartServer) -> None:
    """/ws streams signal.submitted, .forwarded, .completed and neuron.state events; the gauge counts the client."""
    server = start_server('server_id = "ws-test"\n')
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        await poll_sample(client, WS_GAUGE, lambda v: v == 0)
        async with connect(server.ws_url, open_timeout=10) as websocket:
            # Subscribed once the gauge counts it: the handler subscribes right after counting.
            await poll_sample(client, WS_GAUGE, lambda v: v == 1)
            response = await client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
            assert response.status_code == 200
            result = response.json()
            signal_id = result["id"]

            events: list[dict[str, Any]] = []
            with anyio.fail_after(10):
                while not any(e["type"] == "signal.completed" and e["signal_id"] == signal_id for e in events):
                    events.append(json.loads(await websocket.recv()))
            await poll_sample(client, WS_GAUGE, lambda v: v == 1)  # still counted while connected
        await poll_sample(client, WS_GAUGE, lambda v: v == 0)

    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        assert isinstance(event["time"], float)
        by_type.setdefault(event["type"], []).append(event)
    assert set(by_type) == {
        "signal.submitted",
        "signal.processed",
        "signal.forwarded",
        "signal.completed",
        "neuron.state",
    }
    processed = sorted((e["signal_id"], e["neuron_id"], e["status"]) for e in by_type["signal.processed"])
    assert processed == sorted((hop["signal_id"], hop["neuron_id"], "success") for hop in result["path"])

    [submitted] = by_type["signal.submitted"]
    assert submitted["signal_id"] == signal_id
    assert submitted["trace_id"] == signal_id
    assert submitted["entries"] == ["strategic"]

    forwarded = by_type["signal.forwarded"]
    assert all(e["trace_id"] == signal_id for e in forwarded)
    hops = sorted((e["from_neuron"], e["to_neuron"]) for e in forwarded)
    assert hops == sorted([("strategic", "design")] * 2 + [("design", "implementation")] * 2)
    path_ids = {hop["signal_id"] for hop in result["path"]}
    assert {e["signal_id"] for e in forwarded} == path_ids - {signal_id}

    [completed] = by_type["signal.completed"]
    assert completed["status"] == "completed"
    assert completed["outputs"] == result["outputs"]
    assert completed["errors"] == 0

    states = {(e["neuron_id"], e["state"]) for e in by_type["neuron.state"]}
    for neuron_id in ("strategic", "design", "implementation"):
        assert (neuron_id, "processing") in states
        assert (neuron_id, "idle") in states
    assert events[0] is submitted  # published before the entry neuron can pick the request up

    assert await anyio.to_thread.run_sync(server.stop) == 0
    assert server.stderr() == "", server.output()
