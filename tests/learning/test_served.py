"""A real ``python -m hal9 serve`` with the default services: feedback over HTTP, a lesson over /ws, a scrape."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.cli.helpers import StartServer, poll_sample, samples, value

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

#: The defaults (llm, memory, learning); a lesson from one failure, at L2 only.
CONFIG = 'server_id = "learning-test"\n[learning]\nsmoothing = 1.0\ndecay = 0.4\nevaluation_outcomes = 1\n'


async def test_feedback_over_http_adjusts_a_prompt_announced_on_the_websocket(start_server: StartServer) -> None:
    server = start_server(CONFIG)
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        async with connect(server.ws_url, open_timeout=10) as websocket:
            await poll_sample(client, "hal9_websocket_connections_active", lambda v: v == 1)
            first = (await client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})).json()
            feedback = await client.post(f"/api/v1/signals/{first['id']}/feedback", json={"success": False})
            assert feedback.status_code == 200, feedback.text
            assert feedback.json()["adjusting"] == ["implementation"]
            events: list[dict[str, Any]] = []
            with anyio.fail_after(10):
                while not any(e["type"] == "learning.adjusted" for e in events):
                    events.append(json.loads(await websocket.recv()))
        (adjusted,) = [e for e in events if e["type"] == "learning.adjusted"]
        assert (adjusted["neuron_id"], adjusted["source"]) == ("implementation", "rule")
        second = (await client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})).json()
        assert (await client.post(f"/api/v1/signals/{second['id']}/feedback", json={"score": 1})).status_code == 200
        view = (await client.get("/api/v1/neurons/implementation/learning")).json()
        (lesson,) = view["lessons"]
        assert (lesson["status"], lesson["stored"]) == ("kept", True)  # in data_dir/hal9.db too
        text = (await client.get("/metrics")).text
    assert value(text, "hal9_learning_cycles_total") == 2
    assert value(text, "hal9_learning_adjustments_total", neuron_id="implementation", type="success") == 1
    assert value(text, "hal9_learning_effectiveness_ratio", neuron_id="implementation") == 0.5
    assert {s.labels["neuron_id"] for s in samples(text)["hal9_learning_error_gradient"]} == {
        "strategic",
        "design",
        "implementation",
    }
    assert server.stop() == 0
    assert server.stderr() == "", server.output()
