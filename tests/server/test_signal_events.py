"""GET /api/v1/signals/{id}/events over a real socket: live events in order, the replay, the result, auth, bounds.

The app runs on uvicorn on a free port of 127.0.0.1 and an httpx client streams from it.
Requests are held at the entry neuron (it waits on an event the test sets), so that a
subscriber joins before their work runs without any sleep.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from hal9 import Config, Layer, Neuron, Runtime, Signal
from hal9.auth import ROLE_PERMISSIONS, AuthService, Permission, Role, auth_services
from hal9.runtime.events import EventBus, Subscription
from hal9.server import create_app, signal_events
from tests.auth.helpers import auth_config
from tests.server.helpers import make_config

pytestmark = pytest.mark.anyio

SIGNALS = "/api/v1/signals"
Frame = tuple[str, Any]


class Planner(Neuron):
    """The entry: holds every request until ``release`` is set, then splits it on commas."""

    layer = Layer.L4

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.release = anyio.Event()

    async def process(self, signal: Signal) -> list[str]:
        await self.release.wait()
        return str(signal.content).split(",")


class Builder(Neuron):
    layer = Layer.L2

    async def process(self, signal: Signal) -> str:
        return f"built {signal.content}"


@dataclass
class Served:
    """A running Planner -> Builder network, served on a socket, and a client on that socket."""

    runtime: Runtime
    planner: Planner
    client: httpx.AsyncClient

    async def submit(
        self, content: str, *, wait: bool = False, headers: dict[str, str] | None = None, status: int | None = None
    ) -> str:
        """Submit; the answer must have ``status`` (by default 200 with ``wait``, else 202)."""
        response = await self.client.post(SIGNALS, json={"content": content, "wait": wait}, headers=headers)
        assert response.status_code == (status or (200 if wait else 202)), response.text
        request_id: str = response.json()["id"]
        return request_id


@asynccontextmanager
async def serve(config: Config | None = None) -> AsyncIterator[Served]:
    """Start the network and its app on uvicorn on 127.0.0.1 (a free port); everything stops at the end."""
    config = config if config is not None else make_config()
    planner = Planner("planner")
    runtime = Runtime(config, neurons=[planner, Builder("builder")], services=auth_services(config))
    runtime.connect("planner", "builder")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # Listening before uvicorn starts: the first request waits in the backlog, no polling needed.
    sock.listen(16)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), log_config=None, lifespan="off", ws="none", timeout_graceful_shutdown=1)
    )
    try:
        async with runtime, anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            try:
                # trust_env=False: no proxy from the environment stands between the test and 127.0.0.1.
                async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10) as client:
                    yield Served(runtime, planner, client)
            finally:
                planner.release.set()  # a test that failed early must not leave a request held
                server.should_exit = True
    finally:
        sock.close()


async def frames(lines: AsyncIterator[str]) -> AsyncIterator[Frame]:
    """(event, parsed data) of each SSE frame of a response's lines; comment lines are skipped."""
    kind: str | None = None
    data: list[str] = []
    async for line in lines:
        if line == "":
            if kind is not None:
                yield kind, json.loads("\n".join(data))
            kind, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def assert_causal_order(events: list[Frame]) -> None:
    """A signal is forwarded after its parent was processed, and processed after it was forwarded."""
    processed: set[str] = set()
    forwarded: set[str] = set()
    for kind, data in events:
        if kind == "signal.forwarded":
            assert data["parent_id"] in processed, data
            forwarded.add(data["signal_id"])
        elif kind == "signal.processed":
            assert data["parent_id"] is None or data["signal_id"] in forwarded, data
            processed.add(data["signal_id"])


async def test_a_subscriber_that_joins_before_the_work_gets_every_event_in_order_then_the_result() -> None:
    async with serve() as served:
        request_id = await served.submit("api,ui")
        async with served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            stream = frames(response.aiter_lines())
            # The request was submitted before anyone could know its id: that much is replayed.
            kind, submitted = await anext(stream)
            assert kind == "signal.submitted"
            assert submitted["replay"] is True
            assert (submitted["signal_id"], submitted["trace_id"]) == (request_id, request_id)
            assert submitted["entries"] == ["planner"]
            served.planner.release.set()  # the work runs only now, with the stream open
            rest = [frame async for frame in stream]
        shown = await served.client.get(f"{SIGNALS}/{request_id}")

    events, (kind, result) = rest[:-1], rest[-1]
    assert kind == "result"
    assert result == shown.json()
    assert result["status"] == "completed"
    assert sorted(result["outputs"]) == ["built api", "built ui"]
    assert all(data["trace_id"] == request_id and "replay" not in data for _, data in events)
    assert events[-1][0] == "signal.completed"
    assert events[-1][1]["status"] == "completed"
    assert Counter(kind for kind, _ in events[:-1]) == {"signal.processed": 3, "signal.forwarded": 2}
    assert events[0][0] == "signal.processed"
    assert (events[0][1]["neuron_id"], events[0][1]["parent_id"]) == ("planner", None)
    assert_causal_order([("signal.submitted", submitted), *events])
    # One processed event per hop of the path, in the path's order.
    processed = [(data["signal_id"], data["neuron_id"]) for kind, data in events if kind == "signal.processed"]
    assert processed == [(hop["signal_id"], hop["neuron_id"]) for hop in result["path"]]


async def test_a_subscriber_that_joins_after_the_end_gets_the_replay_and_the_result() -> None:
    async with serve() as served:
        served.planner.release.set()
        request_id = await served.submit("api,ui", wait=True)
        async with served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response:
            assert response.status_code == 200
            received = [frame async for frame in frames(response.aiter_lines())]
        shown = (await served.client.get(f"{SIGNALS}/{request_id}")).json()

    events, (kind, result) = received[:-1], received[-1]
    assert kind == "result"
    assert result == shown
    assert [kind for kind, _ in events] == [
        "signal.submitted",
        "signal.processed",
        "signal.processed",
        "signal.processed",
        "signal.completed",
    ]
    assert all(data["replay"] is True and data["trace_id"] == request_id for _, data in events)
    processed = [(data["signal_id"], data["neuron_id"], data["layer"]) for kind, data in events[1:-1]]
    assert processed == [(hop["signal_id"], hop["neuron_id"], hop["layer"]) for hop in shown["path"]]
    completed = events[-1][1]
    assert (completed["status"], completed["errors"]) == ("completed", 0)
    assert sorted(completed["outputs"]) == sorted(shown["outputs"])


async def test_a_failed_branch_is_replayed_as_signal_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(signal: Signal) -> str:
        raise ValueError(f"cannot build {signal.content}")

    async with serve() as served:
        served.planner.release.set()
        monkeypatch.setattr(served.runtime.neuron("builder"), "process", refuse)
        request_id = await served.submit("api", wait=True, status=502)  # failed: a neuron raised
        async with served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response:
            received = [frame async for frame in frames(response.aiter_lines())]

    kinds = [kind for kind, _ in received]
    assert kinds == [
        "signal.submitted",
        "signal.processed",
        "signal.processed",
        "signal.failed",
        "signal.completed",
        "result",
    ]
    failed = received[3][1]
    assert (failed["neuron_id"], failed["error"], failed["message"]) == ("builder", "ValueError", "cannot build api")
    assert failed["signal_id"] == received[2][1]["signal_id"]
    assert received[2][1]["status"] == "error"
    assert received[-1][1]["status"] == "failed"


async def test_an_unknown_request_is_404_before_any_streaming() -> None:
    async with serve() as served:
        response = await served.client.get(f"{SIGNALS}/no-such-request/events")
        assert not served.runtime.events.active  # the subscription taken for the lookup was closed

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "no-such-request" in response.json()["detail"]


async def test_the_route_needs_credentials_and_the_events_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(auth_config(tmp_path / "data")) as served:
        auth = served.runtime.services["auth"]
        assert isinstance(auth, AuthService)
        admin = {"X-API-Key": (await auth.create_key("admin", Role.ADMIN)).token}
        viewer = {"X-API-Key": (await auth.create_key("viewer", Role.VIEWER)).token}
        served.planner.release.set()
        request_id = await served.submit("api", wait=True, headers=admin)
        url = f"{SIGNALS}/{request_id}/events"

        anonymous = await served.client.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        # Every role reads events today: take the permission away from viewers to see the 403.
        monkeypatch.setitem(ROLE_PERMISSIONS, Role.VIEWER, ROLE_PERMISSIONS[Role.VIEWER] - {Permission.EVENTS_READ})
        refused = await served.client.get(url, headers=viewer)
        assert refused.status_code == 403
        assert "events:read" in refused.json()["detail"]
        assert (await served.client.get(f"{SIGNALS}/unknown/events", headers=admin)).status_code == 404
        async with served.client.stream("GET", url, headers=admin) as response:
            assert response.status_code == 200
            received = [frame async for frame in frames(response.aiter_lines())]
        assert received[-1][0] == "result"
        assert received[-1][1]["id"] == request_id


async def test_a_reader_that_falls_behind_is_cut_off_with_an_error_event() -> None:
    # A buffer of 2: the planner's processed event and its 4 forwarded ones are published in one step.
    async with serve(make_config(server={"websocket_buffer": 2})) as served:
        request_id = await served.submit("a,b,c,d")
        async with served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response:
            stream = frames(response.aiter_lines())
            assert (await anext(stream))[0] == "signal.submitted"
            served.planner.release.set()
            rest = [frame async for frame in stream]
        assert not served.runtime.events.active  # cut off: unsubscribed
        result = await served.runtime.wait(request_id, timeout=5)

    kind, error = rest[-1]
    assert kind == "error"
    assert "dropped" in error["detail"]
    assert "result" not in [kind for kind, _ in rest]
    # What was queued before the cut-off still arrived (the buffer also holds other events: neuron.state).
    delivered = [kind for kind, _ in rest[:-1]]
    assert delivered[0] == "signal.processed"
    assert set(delivered) <= {"signal.processed", "signal.forwarded"}
    assert len(delivered) < 5  # of the planner's processed event and its 4 forwarded ones
    assert result.status == "completed"  # the runtime never waited for the slow reader


async def test_the_subscription_is_closed_when_the_client_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve() as served:
        bus = served.runtime.events
        closed = anyio.Event()
        unsubscribe = bus.unsubscribe

        def unsubscribed(subscription: Subscription) -> None:
            unsubscribe(subscription)
            closed.set()

        monkeypatch.setattr(bus, "unsubscribe", unsubscribed)
        request_id = await served.submit("api")
        async with (
            served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response,
            aclosing(frames(response.aiter_lines())) as stream,
        ):
            assert (await anext(stream))[0] == "signal.submitted"
            assert bus.active
        # The client left mid-stream, the request still held: the server notices and unsubscribes.
        with anyio.fail_after(5):
            await closed.wait()
        assert not bus.active


async def test_silence_is_filled_with_keep_alive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal_events, "KEEP_ALIVE_SECONDS", 0.01)
    async with serve() as served:
        request_id = await served.submit("api")
        async with served.client.stream("GET", f"{SIGNALS}/{request_id}/events") as response:
            lines = response.aiter_lines()
            async for line in lines:  # the held request publishes nothing: comments come instead
                if line == ": keep-alive":
                    break
            served.planner.release.set()
            received = [frame async for frame in frames(lines)]

    assert received[-1][0] == "result"
    assert received[-1][1]["status"] == "completed"


async def test_a_receive_that_times_out_takes_nothing() -> None:
    """The route waits for events under a keep-alive timeout: a cancelled wait must not lose the next event."""
    bus = EventBus()
    subscription = bus.subscribe(buffer=4)
    with anyio.move_on_after(0) as scope:
        await subscription.receive()
    assert scope.cancelled_caught
    bus.publish("signal.completed", trace_id="t")
    with anyio.fail_after(5):
        assert (await subscription.receive())["type"] == "signal.completed"
    subscription.close()
    with pytest.raises(anyio.EndOfStream):
        await subscription.receive()
