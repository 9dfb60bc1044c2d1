"""Accepted requests survive a SIGKILL of a real ``python -m hal9 serve``: none answers 404 after the restart."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from hal9 import Runtime
from hal9.requests import INTERRUPTED, RequestLog, request_log
from hal9.server import create_app
from hal9.server.schemas import SignalView
from hal9.server.signals import result_json
from tests.cli.conftest import start_server  # noqa: F401 (real servers, killed at teardown)
from tests.cli.helpers import StartServer
from tests.server.helpers import make_config

pytestmark = pytest.mark.anyio

SIGNALS = "/api/v1/signals"
#: Slow enough that the 20 requests are still queued or running when the server is killed.
SLOW = """
server_id = "durable"

[llm.mock]
latency_seconds = 0.2
"""


async def _finished(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    """The request's view once it has finished (polled: it runs in the server's process)."""
    with anyio.fail_after(20):
        while True:
            view: dict[str, Any] = (await client.get(f"{SIGNALS}/{request_id}")).json()
            if view["status"] != "pending":
                return view
            await anyio.sleep(0.05)


def stored(database: Path, request_id: str) -> tuple[str, str] | None:
    """(status, instance) of a request's row, read by another connection as any reader would."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT status, instance FROM requests WHERE id = ?", (request_id,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


async def test_a_sigkilled_servers_accepted_requests_answer_completed_or_interrupted_after_restart(
    start_server: StartServer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """One request completed and 20 accepted, SIGKILL, restart on the same data: every id answers, none 404."""
    database = tmp_path / "hal9-data" / "hal9.db"
    server = start_server(SLOW)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        accepted = await client.post(SIGNALS, json={"content": "finished before the crash"})
        assert accepted.status_code == 202, accepted.text
        done = await _finished(client, accepted.json()["id"])
        ids: list[str] = []
        for index in range(20):
            response = await client.post(SIGNALS, json={"content": f"task {index}"})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
            # Committed before the 202 was sent: another connection reads it now.
            row = stored(database, ids[-1])
            assert row is not None, f"request {ids[-1]} was answered 202 before it was recorded" + server.output()
    server.stop(signal.SIGKILL)
    assert stored(database, ids[-1]) == ("accepted", row[1])  # the last one cannot have finished (20 x 0.6 s of work)

    restarted = start_server(SLOW)
    async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as client:
        before = (await client.get(f"{SIGNALS}/{done['id']}")).json()
        assert before == done  # the stored result is the one the client was given
        views = [(await client.get(f"{SIGNALS}/{request_id}")) for request_id in ids]
    assert [view.status_code for view in views] == [200] * 20, [view.text for view in views]
    statuses = [view.json()["status"] for view in views]
    assert set(statuses) <= {"completed", "failed"}, statuses
    interrupted = [view.json() for view in views if view.json()["status"] == "failed"]
    assert interrupted, "the kill interrupted nothing: the test did not test the crash"
    for view in interrupted:
        assert [error["error"] for error in view["errors"]] == [INTERRUPTED], view
        assert "the server stopped before the request finished" in view["errors"][0]["message"]
    # The restart marked them in the store too, not only in its answers.
    assert stored(database, ids[-1]) is not None
    assert stored(database, ids[-1])[0] == "failed"  # type: ignore[index]


async def test_without_a_data_dir_nothing_is_recorded_and_an_unknown_id_is_404() -> None:
    """Library use (no data_dir, no cluster): no request store, today's behaviour."""
    config = make_config()
    assert request_log(config, result_json) == {}
    async with Runtime(config) as runtime:
        app = create_app(runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.post(SIGNALS, json={"content": "hello", "wait": True})
            assert response.status_code == 200
            assert (await client.get(f"{SIGNALS}/0123456789abcdef")).status_code == 404


async def test_a_finished_request_left_out_of_memory_is_answered_from_the_store(tmp_path: Path) -> None:
    """With a trace history of one, an older request is answered from SQLite, the same as it was live."""
    config = make_config(data_dir=str(tmp_path / "data"), runtime={"max_traces": 1})
    async with Runtime(config, services=request_log(config, result_json)) as runtime:
        app = create_app(runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            first_id = (await client.post(SIGNALS, json={"content": "one"})).json()["id"]
            first = SignalView.of(await runtime.wait(first_id, timeout=10)).model_dump(mode="json")
            second_id = (await client.post(SIGNALS, json={"content": "two"})).json()["id"]
            await runtime.wait(second_id, timeout=10)
            requests = runtime.services.get(RequestLog)
            assert requests is not None
            await requests.flush()  # the end is written behind
            assert (await client.get(f"{SIGNALS}/{first['id']}")).json() == first
            assert (await client.get(f"{SIGNALS}/not-a-request")).status_code == 404
            assert (await client.get(f"{SIGNALS}/bad%20id!")).status_code == 404


async def test_a_waited_request_is_recorded_before_a_504_hands_out_its_id_and_its_end_after(tmp_path: Path) -> None:
    """Past server.request_timeout the id goes out without the result: it is in the store first."""
    data_dir = tmp_path / "data"
    config = make_config(
        data_dir=str(data_dir), server={"request_timeout": 0.05}, llm={"mock": {"latency_seconds": 0.3}}
    )
    async with Runtime(config, services=request_log(config, result_json)) as runtime:
        app = create_app(runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.post(SIGNALS, json={"content": "slow", "wait": True})
            assert response.status_code == 504, response.text
            request_id = response.json()["id"]
            requests = runtime.services.require(RequestLog)
            assert stored(data_dir / "hal9.db", request_id) == ("accepted", requests.instance)
            finished = await runtime.wait(request_id, timeout=10)
            await requests.flush()
            assert stored(data_dir / "hal9.db", request_id) == (finished.status, requests.instance)


def test_the_request_log_is_not_taken_for_a_memory_when_services_are_looked_up(tmp_path: Path) -> None:
    """``services.get(Memory)`` checks each member of the protocol on every service: none may raise."""
    from hal9 import Memory

    config = make_config(data_dir=str(tmp_path / "data"))
    (log,) = request_log(config, result_json).values()
    for member in ("store", "store_many", "retrieve", "recent", "search", "forget"):
        getattr(log, member, None)  # raised RequestStoreUnavailable for "store" before it ran
    assert not isinstance(log, Memory)
