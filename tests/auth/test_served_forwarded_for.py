"""A real server believes X-Forwarded-For only from the proxies ``server.forwarded_allow_ips`` names."""

from __future__ import annotations

import re

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.auth.test_cli import AUTH_ON
from tests.cli.helpers import ServerProcess, StartServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

LIMITED = (
    'services = { llm = "hal9.llm:LLMService" }\n'
    "[auth]\nlogin_max_failures_per_address = 3\nlogin_max_failures_per_user = 1000\n"
)
LOGIN = "/api/v1/auth/login"


async def fail_login(client: httpx.AsyncClient, n: int, forwarded_for: str | None = None) -> int:
    """A login with a wrong password for a new username each time (so only the address limit counts)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    response = await client.post(LOGIN, json={"username": f"user{n}", "password": "not the password"}, headers=headers)
    return response.status_code


async def ws_refused_with_forwarded_for(server: ServerProcess, forwarded_for: str) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(server.ws_url, open_timeout=10, additional_headers={"X-Forwarded-For": forwarded_for}):
            pass


async def test_a_rotating_x_forwarded_for_does_not_evade_the_per_address_login_limit(
    start_server: StartServer,
) -> None:
    # uvicorn's own default would trust 127.0.0.1, or whatever $FORWARDED_ALLOW_IPS says: neither counts.
    server = start_server(f'data_dir = "data"\n{LIMITED}', env={**AUTH_ON, "FORWARDED_ALLOW_IPS": "*"})
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert [await fail_login(client, n) for n in range(3)] == [401] * 3
        rotated = [await fail_login(client, n, forwarded_for=f"127.0.0.{n + 2}") for n in range(25)]
        assert rotated == [429] * 25
    await ws_refused_with_forwarded_for(server, "127.0.0.99")
    assert server.stop() == 0
    written = "".join(server.lines)
    assert re.search(r'127\.0\.0\.1:\d+ - \\"WebSocket /ws\\" 401', written)  # the logs name the real peer
    assert "127.0.0.99" not in written


async def test_a_configured_proxy_is_believed(start_server: StartServer) -> None:
    config = f'data_dir = "data"\n{LIMITED}[server]\nforwarded_allow_ips = ["127.0.0.0/8"]\n'
    server = start_server(config, env=AUTH_ON)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert [await fail_login(client, n, forwarded_for="127.0.0.2") for n in range(3)] == [401] * 3
        assert await fail_login(client, 3, forwarded_for="127.0.0.2") == 429  # that client is limited ...
        assert await fail_login(client, 4, forwarded_for="127.0.0.3") == 401  # ... the others behind the proxy are not
        assert await fail_login(client, 5) == 401
    await ws_refused_with_forwarded_for(server, "127.0.0.99")
    assert server.stop() == 0
    assert '127.0.0.99:0 - \\"WebSocket /ws\\" 401' in "".join(server.lines)
