"""GET /api/v1/neurons, /health, /ready and /openapi.json."""

from __future__ import annotations

import anyio
import pytest

from hal9 import Layer
from tests.server.helpers import Api, OpenApi
from tests.support import Gate

pytestmark = pytest.mark.anyio


async def test_list_neurons_shows_every_neuron_with_state_health_queue_and_counts(api: Api) -> None:
    """GET /api/v1/neurons lists the default network with layers, wiring and the work each neuron did."""
    done = await api.client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
    assert done.status_code == 200

    response = await api.client.get("/api/v1/neurons")

    assert response.status_code == 200
    neurons = {n["id"]: n for n in response.json()}
    assert set(neurons) == {"strategic", "design", "implementation"}
    expected = {
        "strategic": ("L4", "StrategicNeuron", ["design"], 1),
        "design": ("L3", "DesignNeuron", ["implementation"], 2),
        "implementation": ("L2", "ImplementationNeuron", [], 2),
    }
    for neuron_id, (layer, kind, downstream, processed) in expected.items():
        view = neurons[neuron_id]
        assert view["layer"] == layer
        assert view["kind"] == kind
        assert view["downstream"] == downstream
        assert view["processed"] == processed
        assert view["failed"] == 0
        assert view["restarts"] == 0
        assert view["state"] == "idle"
        assert view["healthy"] is True
        assert view["queue_size"] == 0
        assert view["mailbox_capacity"] == 64


async def test_get_neuron_reports_live_state_and_queue(open_api: OpenApi) -> None:
    """GET /api/v1/neurons/{id} shows a busy neuron as processing with its queued signals counted."""
    held = Gate("held", layer=Layer.L3, mailbox_capacity=4)
    api = await open_api(neurons=[held])
    ids = [(await api.client.post("/api/v1/signals", json={"content": c})).json()["id"] for c in ("a", "b", "c")]
    with anyio.fail_after(5):
        await held.entered.wait()

    busy = await api.client.get("/api/v1/neurons/held")

    assert busy.status_code == 200
    assert busy.json()["state"] == "processing"
    assert busy.json()["queue_size"] == 2
    assert busy.json()["mailbox_capacity"] == 4
    assert busy.json()["healthy"] is True
    held.release.set()
    for signal_id in ids:
        await api.runtime.wait(signal_id, timeout=5)
    idle = (await api.client.get("/api/v1/neurons/held")).json()
    assert (idle["state"], idle["queue_size"], idle["processed"]) == ("idle", 0, 3)


async def test_unknown_neuron_is_404_naming_it(api: Api) -> None:
    """GET /api/v1/neurons/{id} of an id not in the network answers 404 with the id in the message."""
    response = await api.client.get("/api/v1/neurons/nobody")

    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


async def test_health_is_200(api: Api) -> None:
    """/health answers 200 while the process runs."""
    response = await api.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_200_while_the_runtime_runs(api: Api) -> None:
    """/ready answers 200 once the runtime accepts requests and every neuron loop runs."""
    response = await api.client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_ready_is_503_while_draining(api: Api) -> None:
    """/ready answers 503 once the runtime stops accepting requests (as during a drain)."""
    assert await api.runtime.drain(1.0)

    response = await api.client.get("/ready")

    assert response.status_code == 503
    assert response.json()["accepting"] is False


async def test_openapi_document_lists_the_api(api: Api) -> None:
    """/openapi.json is served and documents the signal, neuron and system routes."""
    response = await api.client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "HAL9"
    paths = document["paths"]
    for path in ("/api/v1/signals", "/api/v1/signals/{signal_id}", "/api/v1/neurons", "/api/v1/neurons/{neuron_id}"):
        assert path in paths
    for path in ("/health", "/ready", "/metrics"):
        assert path in paths
    assert {"200", "202", "413", "422", "503", "504"} <= set(paths["/api/v1/signals"]["post"]["responses"])
