"""A real server stops cleanly on SIGTERM and SIGINT: in-flight work finishes, the exit status is 0."""

from __future__ import annotations

import signal
import time

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.cli.helpers import ServerProcess, StartServer, poll_sample

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SERVER_ID = "shutdown"
#: Slow enough that requests are surely in flight when the signal arrives (about 1-2 s of work).
SLOW = f"""
server_id = "{SERVER_ID}"

[llm.mock]
latency_seconds = 0.2
"""


async def stop_with_requests_in_flight(server: ServerProcess, signum: int, count: int) -> list[httpx.Response]:
    """Send ``count`` wait=true requests, signal the server once all are being served, collect the answers."""
    responses: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def ask(index: int) -> None:
            responses.append(await client.post("/api/v1/signals", json={"content": f"Request {index}", "wait": True}))

        async with anyio.create_task_group() as task_group:
            for index in range(count):
                task_group.start_soon(ask, index)
            # Every request is being served once the scrape sees them plus itself in flight.
            await poll_sample(
                client, "hal9_server_connections_active", lambda v: (v or 0) >= count + 1, server_id=SERVER_ID
            )
            server.proc.send_signal(signum)
    return responses


async def drain_until_closed(websocket: ClientConnection) -> bool:
    """Read (and drop) messages until the server closes the connection."""
    try:
        while True:
            await websocket.recv()
    except ConnectionClosed:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_drains_in_flight_requests_and_exits_0(start_server: StartServer, signum: int) -> None:
    """SIGTERM or SIGINT with wait=true requests in flight: each still gets its 200 result, then the process exits 0."""
    server = start_server(SLOW)

    responses = await stop_with_requests_in_flight(server, signum, count=4)

    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert all(r.json()["status"] == "completed" and len(r.json()["outputs"]) == 2 for r in responses)
    assert await anyio.to_thread.run_sync(server.wait) == 0
    assert server.logged("server.stopped")
    assert not server.logged("runtime.drain_timeout")
    assert server.stderr() == "", server.output()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_right_after_listening_exits_0(start_server: StartServer, signum: int) -> None:
    """A signal in the moment between "server.listening" and uvicorn taking over signals still stops it cleanly."""
    server = start_server(SLOW)

    assert server.stop(signum) == 0
    assert server.logged("server.stopped")
    assert server.stderr() == "", server.output()


async def test_sigterm_drains_accepted_requests_before_exiting(start_server: StartServer) -> None:
    """SIGTERM right after wait=false requests were accepted: the runtime finishes them (no drain timeout), exit 0."""
    server = start_server(SLOW)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for index in range(3):
            assert (await client.post("/api/v1/signals", json={"content": f"Request {index}"})).status_code == 202

    assert await anyio.to_thread.run_sync(server.stop) == 0

    [draining] = server.logged("server.draining")
    assert draining["active_requests"] > 0
    assert not server.logged("runtime.drain_timeout")
    assert server.logged("runtime.stopped")


async def test_sigterm_closes_open_websockets_and_exits_0(start_server: StartServer) -> None:
    """An open /ws connection does not hold shutdown up: the client is closed with 1012 and the process exits 0."""
    server = start_server(SLOW)
    async with connect(server.ws_url, open_timeout=10) as websocket:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            await poll_sample(client, "hal9_websocket_connections_active", lambda v: v == 1)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            closed = await drain_until_closed(websocket)
        assert closed
        assert websocket.close_code == 1012  # service restart: come back later

    assert await anyio.to_thread.run_sync(server.wait) == 0
    assert time.monotonic() - started < 5
