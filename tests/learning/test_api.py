"""``POST /api/v1/signals/{id}/feedback`` and ``GET /api/v1/neurons/{id}/learning`` on a real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9 import Config, Neuron, Runtime
from hal9.server import create_app
from tests.metrics.test_families import assert_matches_contract, collected
from tests.server.helpers import make_config
from tests.support import Gate

WITH_LEARNING = {"llm": "hal9.llm:LLMService", "learning": "hal9.learning:LearningService"}
LEARNING_FAMILIES = (
    "hal9_learning_cycles_total",
    "hal9_learning_error_gradient",
    "hal9_learning_adjustments_total",
    "hal9_learning_patterns_identified_total",
    "hal9_learning_effectiveness_ratio",
)


@asynccontextmanager
async def serve(
    config: Config, neurons: list[Neuron] | None = None
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    async with Runtime(config, neurons=neurons) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield runtime, client


async def _ask(client: httpx.AsyncClient, content: str = "Build a todo app") -> str:
    response = await client.post("/api/v1/signals", json={"content": content, "wait": True})
    assert response.status_code == 200
    identifier: str = response.json()["id"]
    return identifier


def _config(**learning: Any) -> Config:
    return make_config(services=WITH_LEARNING, learning={"smoothing": 1.0, "decay": 0.5, **learning})


@pytest.mark.anyio
async def test_feedback_returns_the_errors_and_gradients_along_the_path() -> None:
    async with serve(_config(threshold=1.0)) as (_runtime, client):
        request_id = await _ask(client)
        response = await client.post(f"/api/v1/signals/{request_id}/feedback", json={"score": 0.4, "comment": "vague"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["errors"] == pytest.approx({"implementation": 0.6, "design": 0.3, "strategic": 0.15})
        assert body["gradients"] == body["errors"]
        assert (body["success"], body["pattern_type"], body["adjusting"]) == (False, "negative_feedback", [])
        success = await client.post(f"/api/v1/signals/{request_id}/feedback", json={"success": True})
        assert success.json()["score"] == 1.0
        assert (await client.post(f"/api/v1/signals/{request_id}/feedback", json={"score": 1})).status_code == 200
        assert success.json()["gradients"]["implementation"] == 0


@pytest.mark.anyio
async def test_the_learning_view_shows_the_lesson_its_status_and_effectiveness() -> None:
    async with serve(_config(threshold=0.5, decay=0.4)) as (runtime, client):
        request_id = await _ask(client)
        response = await client.post(f"/api/v1/signals/{request_id}/feedback", json={"success": False})
        assert response.json()["adjusting"] == ["implementation"]
        await runtime.services["learning"].wait_idle()
        view = (await client.get("/api/v1/neurons/implementation/learning")).json()
        assert view["neuron_id"] == "implementation"
        assert view["effectiveness"] == 0.0
        assert view["outcomes"] == 1
        (lesson,) = view["lessons"]
        # The mock's template is no lesson: the rule wrote it.
        assert (lesson["status"], lesson["source"], lesson["pattern_type"]) == (
            "evaluating",
            "rule",
            "negative_feedback",
        )
        assert view["evaluation"] == {"lesson_id": lesson["id"], "baseline": 0.0, "outcomes": 0, "needed": 5}
        design = (await client.get("/api/v1/neurons/design/learning")).json()
        assert (design["gradient"], design["lessons"]) == (0.4, [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"score": 1.5},
        {"score": -0.1},
        {"score": "high"},
        {"score": "0.5"},
        {"score": True},
        {"success": 1},
        {},
        {"score": 0.5, "success": True},
        {"score": 0.5, "x": 1},
        {"score": 0.5, "comment": "x" * 1001},
    ],
)
async def test_a_bad_feedback_body_is_422(body: dict[str, Any]) -> None:
    async with serve(_config()) as (_runtime, client):
        request_id = await _ask(client)
        response = await client.post(f"/api/v1/signals/{request_id}/feedback", json=body)
        assert response.status_code == 422
        assert response.json()["detail"]


@pytest.mark.anyio
async def test_unknown_ids_are_404_a_pending_request_409_and_no_service_503() -> None:
    gate = Gate("gate")
    async with serve(_config(), neurons=[gate]) as (runtime, client):
        missing = await client.post("/api/v1/signals/nope/feedback", json={"score": 0.5})
        assert missing.status_code == 404
        assert "nope" in missing.json()["detail"]
        assert (await client.get("/api/v1/neurons/nope/learning")).status_code == 404
        pending = (await client.post("/api/v1/signals", json={"content": "held"})).json()["id"]
        await gate.entered.wait()
        early = await client.post(f"/api/v1/signals/{pending}/feedback", json={"score": 0.5})
        assert early.status_code == 409
        assert "has not finished" in early.json()["detail"]
        gate.release.set()
        await runtime.wait(pending)
        assert (await client.post(f"/api/v1/signals/{pending}/feedback", json={"score": 0.5})).status_code == 200
    async with serve(make_config()) as (_runtime, client):
        request_id = await _ask(client)
        response = await client.post(f"/api/v1/signals/{request_id}/feedback", json={"score": 0.5})
        assert response.status_code == 503
        assert (await client.get("/api/v1/neurons/design/learning")).status_code == 503


@pytest.mark.anyio
async def test_all_five_learning_families_are_scraped_with_the_contracts_names_types_and_labels() -> None:
    async with serve(_config(threshold=0.5, decay=0.4, evaluation_outcomes=1, pattern_threshold=1)) as (
        runtime,
        client,
    ):
        first = await _ask(client)
        await client.post(f"/api/v1/signals/{first}/feedback", json={"score": 0.0, "comment": "malformed"})
        await runtime.services["learning"].wait_idle()
        second = await _ask(client)
        await client.post(f"/api/v1/signals/{second}/feedback", json={"score": 1.0})
        scrape = (await client.get("/metrics")).text
        families = collected(runtime)
    for name in LEARNING_FAMILIES:
        assert_matches_contract(name, families[name])
    parsed = {family.name: family for family in text_string_to_metric_families(scrape)}
    values = {
        name: {
            tuple(sorted(s.labels.items())): s.value for s in parsed[name].samples if not s.name.endswith("_created")
        }
        for name in ("hal9_learning_cycles", "hal9_learning_adjustments", "hal9_learning_patterns_identified")
    }
    assert values["hal9_learning_cycles"] == {(): 2.0}
    adjustments = values["hal9_learning_adjustments"]
    assert adjustments[(("neuron_id", "implementation"), ("type", "success"))] == 1
    assert adjustments[(("neuron_id", "implementation"), ("type", "failure"))] == 0
    assert values["hal9_learning_patterns_identified"][(("pattern_type", "parse_error"),)] == 1
    gradient = {s.labels["neuron_id"]: s.value for s in parsed["hal9_learning_error_gradient"].samples}
    assert set(gradient) == {"strategic", "design", "implementation"}
    effectiveness = {s.labels["neuron_id"]: s.value for s in parsed["hal9_learning_effectiveness_ratio"].samples}
    assert effectiveness == {"strategic": 0.5, "design": 0.5, "implementation": 0.5}
