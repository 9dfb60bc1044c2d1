"""POST/GET /api/v1/signals: results, fan-out, paths, timeouts, back-pressure and bad input."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from hal9 import Layer, Neuron, Runtime, Signal
from hal9.server import create_app
from hal9.testing import capture_logs
from tests.server.helpers import Api, OpenApi, make_config
from tests.support import Gate

pytestmark = pytest.mark.anyio

SIGNALS = "/api/v1/signals"
LAYER_ORDER = {"strategic": "L4", "design": "L3", "implementation": "L2"}


class Split(Neuron):
    """Fans a comma-separated request out, one signal per part."""

    layer = Layer.L4

    async def process(self, signal: Signal) -> list[str]:
        return str(signal.content).split(",")


class Picky(Neuron):
    """Raises on parts containing "boom"; answers the others."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> str:
        if "boom" in signal.content:
            raise ValueError(f"cannot handle {signal.content!r}")
        return f"{signal.content}!"


def assert_tree(body: dict[str, Any]) -> None:
    """The path is a tree rooted at the request: each hop's parent is an earlier hop one layer up."""
    path = body["path"]
    by_signal = {hop["signal_id"]: hop for hop in path}
    assert len(by_signal) == len(path), "a signal is recorded once"
    root = path[0]
    assert root["signal_id"] == body["id"]
    assert root["parent_id"] is None
    assert root["neuron_id"] == "strategic"
    for hop in path:
        assert hop["status"] == "success"
        assert hop["layer"] == LAYER_ORDER[hop["neuron_id"]]
        assert hop["duration_seconds"] >= 0
        if hop is root:
            continue
        parent = by_signal[hop["parent_id"]]
        assert int(parent["layer"][1:]) == int(hop["layer"][1:]) + 1


@pytest.mark.parametrize(
    ("content", "fan_out"),
    [("Build a todo app", 2), ("Build a small todo app with tags and due dates", 3)],
)
async def test_wait_true_answers_200_with_fanned_out_outputs_and_the_path(api: Api, content: str, fan_out: int) -> None:
    """wait=true: 200 with the id, status completed, one output per L4 directive, and the hop tree."""
    response = await api.client.post(SIGNALS, json={"content": content, "wait": True})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["errors"] == []
    assert len(body["outputs"]) == fan_out
    assert all(output.startswith("Implemented: ") and content in output for output in body["outputs"])
    assert response.headers["location"] == f"{SIGNALS}/{body['id']}"
    assert body["finished_at"] >= body["created_at"]
    assert body["duration_seconds"] >= 0
    assert_tree(body)
    # One L4 hop, then one L3 and one L2 hop per directive.
    assert [hop["layer"] for hop in body["path"]].count("L3") == fan_out
    assert [hop["layer"] for hop in body["path"]].count("L2") == fan_out
    assert len(body["path"]) == 1 + 2 * fan_out


async def test_wait_false_answers_202_with_a_location_that_reports_the_result(api: Api) -> None:
    """wait=false (the default): 202 with the id and Location; the Location later reports completed."""
    response = await api.client.post(SIGNALS, json={"content": "Build a todo app"})

    assert response.status_code == 202
    body = response.json()
    assert body == {"id": body["id"], "status": "pending"}
    assert response.headers["location"] == f"{SIGNALS}/{body['id']}"

    await api.runtime.wait(body["id"], timeout=5)
    result = await api.client.get(response.headers["location"])
    assert result.status_code == 200
    assert result.json()["status"] == "completed"
    assert len(result.json()["outputs"]) == 2
    assert_tree(result.json())


async def test_get_signal_reports_pending_until_the_network_finishes(open_api: OpenApi) -> None:
    """GET /signals/{id} says pending while a neuron holds the request and completed once it is released."""
    held = Gate("held", layer=Layer.L4)
    api = await open_api(neurons=[held])

    accepted = await api.client.post(SIGNALS, json={"content": "slow"})
    assert accepted.status_code == 202
    signal_id = accepted.json()["id"]
    with anyio.fail_after(5):
        await held.entered.wait()

    pending = await api.client.get(f"{SIGNALS}/{signal_id}")
    assert pending.status_code == 200
    assert pending.json()["status"] == "pending"
    assert pending.json()["outputs"] == []
    assert pending.json()["finished_at"] is None
    assert pending.json()["duration_seconds"] is None

    held.release.set()
    await api.runtime.wait(signal_id, timeout=5)
    done = await api.client.get(f"{SIGNALS}/{signal_id}")
    assert done.json()["status"] == "completed"
    assert done.json()["outputs"] == ["slow"]
    assert done.json()["finished_at"] >= done.json()["created_at"]
    assert done.json()["duration_seconds"] >= 0


async def test_unknown_signal_id_is_404_with_a_message(api: Api) -> None:
    """GET /signals/{id} of an id nobody sent answers 404 and names the id."""
    response = await api.client.get(f"{SIGNALS}/no-such-signal")

    assert response.status_code == 404
    assert "no-such-signal" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing-content"),
        pytest.param({"content": ""}, id="empty-content"),
        pytest.param({"content": 42}, id="content-not-a-string"),
        pytest.param({"content": ["a"]}, id="content-a-list"),
        pytest.param({"content": "hi", "wait": "perhaps"}, id="wait-not-a-bool"),
        pytest.param({"content": "hi", "priority": 1}, id="extra-field"),
        pytest.param("hi", id="json-string-not-object"),
    ],
)
async def test_invalid_bodies_are_422_and_send_nothing(api: Api, body: Any) -> None:
    """Bodies that break the schema are refused with 422 before anything enters the network."""
    response = await api.client.post(SIGNALS, json=body)

    assert response.status_code == 422
    assert response.json()["detail"]
    assert api.runtime.neuron("strategic").status.processed == 0
    assert api.runtime.active_requests == 0


async def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    """A body that does not parse as JSON is 422, not a 500."""
    response = await api.client.post(
        SIGNALS, content=b"{content: not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert api.runtime.neuron("strategic").status.processed == 0


async def test_content_over_max_content_chars_is_413(open_api: OpenApi) -> None:
    """Content longer than server.max_content_chars is 413 naming the limit; content at the limit is accepted."""
    api = await open_api(make_config(server={"max_content_chars": 10}))

    too_long = await api.client.post(SIGNALS, json={"content": "x" * 11, "wait": True})
    assert too_long.status_code == 413
    assert "10" in too_long.json()["detail"]
    assert api.runtime.neuron("strategic").status.processed == 0

    at_limit = await api.client.post(SIGNALS, json={"content": "x" * 10, "wait": True})
    assert at_limit.status_code == 200


async def test_wait_past_request_timeout_is_504_carrying_the_id(open_api: OpenApi) -> None:
    """wait=true past server.request_timeout answers 504 with the id and Location; the request still finishes."""
    held = Gate("held", layer=Layer.L4)
    api = await open_api(make_config(server={"request_timeout": 0.2}), neurons=[held])

    response = await api.client.post(SIGNALS, json={"content": "slow", "wait": True})

    assert response.status_code == 504
    body = response.json()
    assert body["status"] == "pending"
    assert "0.2" in body["detail"]
    assert response.headers["location"] == f"{SIGNALS}/{body['id']}"
    held.release.set()
    await api.runtime.wait(body["id"], timeout=5)
    later = await api.client.get(response.headers["location"])
    assert later.json()["status"] == "completed"


async def test_full_entry_mailbox_is_503_with_retry_after(open_api: OpenApi) -> None:
    """With the entry neuron busy and its mailbox (capacity 1) full, a POST is 503 with Retry-After."""
    held = Gate("held", layer=Layer.L4, mailbox_capacity=1)
    api = await open_api(make_config(runtime={"send_timeout": 0.01}, server={"retry_after_seconds": 3}), neurons=[held])

    first = await api.client.post(SIGNALS, json={"content": "one"})
    assert first.status_code == 202
    with anyio.fail_after(5):
        await held.entered.wait()  # taken out of the mailbox and held
    second = await api.client.post(SIGNALS, json={"content": "two"})
    assert second.status_code == 202  # queued: the mailbox is now full
    assert held.status.queue_size == 1

    refused = await api.client.post(SIGNALS, json={"content": "three"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    assert "held" in refused.json()["detail"]
    assert api.runtime.active_requests == 2  # the refused request left no trace behind

    held.release.set()
    for accepted in (first, second):
        result = await api.runtime.wait(accepted.json()["id"], timeout=5)
        assert result.status == "completed"
    retried = await api.client.post(SIGNALS, json={"content": "three", "wait": True})
    assert retried.status_code == 200


async def test_runtime_not_started_is_503_and_not_ready() -> None:
    """An app on a runtime that is not running answers POST with 503 and /ready with 503; /health stays 200."""
    runtime = Runtime(make_config())
    app = create_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        refused = await client.post(SIGNALS, json={"content": "hello"})
        assert refused.status_code == 503
        assert "retry-after" in refused.headers
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["accepting"] is False
        assert (await client.get("/health")).status_code == 200


async def test_failing_neuron_gives_partial_or_failed_naming_it_and_the_next_request_succeeds(
    open_api: OpenApi,
) -> None:
    """A neuron that raises fails its branch only: partial or failed with the error naming it; later requests work."""
    api = await open_api(neurons=[Split("split"), Picky("picky")], connections=[("split", "picky")])

    partial = await api.client.post(SIGNALS, json={"content": "fine,boom", "wait": True})
    assert partial.status_code == 200
    body = partial.json()
    assert body["status"] == "partial"
    assert body["outputs"] == ["fine!"]
    [error] = body["errors"]
    assert error["neuron_id"] == "picky"
    assert error["error"] == "ValueError"
    assert "boom" in error["message"]
    assert {hop["status"] for hop in body["path"] if hop["neuron_id"] == "picky"} == {"success", "error"}

    failed = await api.client.post(SIGNALS, json={"content": "boom", "wait": True})
    assert failed.status_code == 502  # a failure has a failure's status (hal9.server.signals.result_status)
    assert failed.json()["status"] == "failed"
    assert failed.json()["outputs"] == []
    assert [e["neuron_id"] for e in failed.json()["errors"]] == ["picky"]

    picky = (await api.client.get("/api/v1/neurons/picky")).json()
    assert picky["state"] == "error"
    assert picky["failed"] == 2
    assert picky["healthy"] is True

    after = await api.client.post(SIGNALS, json={"content": "fine", "wait": True})
    assert after.status_code == 200
    assert after.json()["status"] == "completed"
    assert after.json()["outputs"] == ["fine!"]
    assert (await api.client.get("/api/v1/neurons/picky")).json()["state"] == "idle"


async def test_an_unexpected_error_is_a_plain_500_counted_under_its_route() -> None:
    """An error the server maps nowhere (here: a network without neurons) is a 500 without internals, and counted."""
    async with Runtime(make_config(), neurons=[]) as runtime:
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with capture_logs() as logs:
                response = await client.post(SIGNALS, json={"content": "hello"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    labels = {"method": "POST", "endpoint": SIGNALS, "status": "500"}
    assert runtime.metrics.sample("hal9_http_requests_total", labels) == 1
    [logged] = [entry for entry in logs if entry["event"] == "http.unhandled_error"]
    assert logged["path_template"] == SIGNALS
    assert logged["log_level"] == "error"


async def test_a_body_far_over_the_limit_is_refused_413_while_it_is_read(open_api: OpenApi) -> None:
    """A body larger than the server's body limit (content limit x 6 + 4 KiB) is 413 before any parsing."""
    api = await open_api(make_config(server={"max_content_chars": 10}))

    response = await api.client.post(
        SIGNALS, content=b'{"content": "' + b"x" * 10_000 + b'"}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert api.runtime.neuron("strategic").status.processed == 0
