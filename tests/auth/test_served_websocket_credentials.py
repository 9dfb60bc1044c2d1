"""A real server's /ws: credentials in headers or a subprotocol; in the query they are refused and never logged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.auth.test_cli import AUTH_ON, KEY
from tests.cli.helpers import ServerProcess, StartServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

#: Debug level: uvicorn and the websockets protocol then log every handshake line and header.
DEBUG_CONFIG = 'data_dir = "data"\nservices = { llm = "hal9.llm:LLMService" }\n[logging]\nlevel = "debug"\n'
EVENTS = Subprotocol("hal9.events")


def logs(server: ServerProcess) -> str:
    return "".join(server.lines) + server.stderr()


async def refused(url: str, **kwargs: Any) -> tuple[int, bytes]:
    """Connect to ``url``; the status and body of the handshake's refusal."""
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    return refusal.value.response.status_code, bytes(refusal.value.response.body or b"")


async def test_a_key_in_the_query_is_refused_and_appears_in_no_log_line(start_server: StartServer) -> None:
    server = start_server(DEBUG_CONFIG, env=AUTH_ON)
    (admin,) = KEY.findall(server.stderr())  # the first start's key, shown on stderr by design
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": admin}, timeout=10) as client:
        made = await client.post("/api/v1/auth/keys", json={"name": "ws", "role": "viewer"})
        key = made.json()["key"]

    for parameter in ("api_key", "token", "access_token"):
        status, body = await refused(f"{server.ws_url}?{parameter}={key}")
        assert status == 401
        assert b"not accepted in the query string" in body
    # Refused even beside valid headers: the key has leaked into every proxy log on the way.
    status, _ = await refused(f"{server.ws_url}?api_key={key}", additional_headers={"X-API-Key": key})
    assert status == 401

    assert server.stop() == 0
    written = logs(server)
    assert '"WebSocket /ws?[redacted]\\" 401' in written  # uvicorn did log the refusals, without the query
    assert "< GET /ws?[redacted] HTTP/1.1" in written  # and the debug handshake lines
    assert key not in written
    assert key.split("_", 2)[2] not in written


async def test_the_websocket_takes_a_credential_in_a_subprotocol_and_echoes_only_hal9_events(
    start_server: StartServer,
) -> None:
    server = start_server(DEBUG_CONFIG, env=AUTH_ON)
    (key,) = KEY.findall(server.stderr())
    credential = Subprotocol(f"hal9.bearer.{key}")

    async with connect(server.ws_url, open_timeout=10, subprotocols=[EVENTS, credential]) as websocket:
        assert websocket.subprotocol == "hal9.events"  # RFC 6455: one of those offered, never the secret one
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key}, timeout=15) as client:
            response = await client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
            assert response.status_code == 200
        assert '"type"' in str(await websocket.recv())
    # Headers work as on every route; a client offering hal9.events gets it back there too.
    async with connect(server.ws_url, open_timeout=10, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert ws.subprotocol is None
    async with connect(
        server.ws_url, open_timeout=10, subprotocols=[EVENTS], additional_headers={"X-API-Key": key}
    ) as ws:
        assert ws.subprotocol == "hal9.events"

    status, body = await refused(server.ws_url, subprotocols=[credential])
    assert status == 401
    assert b"needs 'hal9.events' offered with it" in body
    status, _ = await refused(server.ws_url, subprotocols=[EVENTS, Subprotocol("hal9.bearer.not-a-key")])
    assert status == 401
    status, _ = await refused(server.ws_url, subprotocols=[EVENTS])
    assert status == 401

    assert server.stop() == 0
    stdout = "".join(server.lines)
    assert "< sec-websocket-protocol: [redacted]" in stdout  # the debug header line was written, scrubbed
    assert key.split("_", 2)[2] not in stdout
