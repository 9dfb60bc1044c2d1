"""A whole session against a real server, logging at debug level: no secret of it in a log line, /metrics or an error.

The password, both API keys and every access and refresh token are searched for in the
server's standard output and standard error (every level, uvicorn's and the websockets
protocol's lines included), in a scrape of /metrics and in every error body the client got.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.auth.test_cli import AUTH_ON, KEY, cli
from tests.cli.helpers import StartServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONFIG = 'data_dir = "data"\n[logging]\nlevel = "debug"\n'
PASSWORD = "a long and secret passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parts(secret: str) -> list[str]:
    """The secret, and the part of it that is secret on its own (an API key's secret, a JWT's signature)."""
    if KEY.fullmatch(secret):
        return [secret, secret.split("_", 2)[2]]
    return [secret, secret.rsplit(".", 1)[1]] if secret.count(".") == 2 else [secret]


async def test_a_whole_session_leaves_no_secret_in_logs_metrics_or_error_bodies(
    start_server: StartServer, tmp_path: Path
) -> None:
    made = cli(tmp_path, "users", "create", "olga", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    (tmp_path / "session.toml").write_text(CONFIG)
    server = start_server(CONFIG, env=AUTH_ON)
    assert KEY.findall(server.stderr()) == []  # a user exists: no first-start key is printed
    secrets: list[str] = [PASSWORD]
    errors: list[httpx.Response] = []

    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:

        async def failing(response: httpx.Response) -> None:
            assert response.status_code >= 400, response.text
            errors.append(response)

        # Log in, refresh, make API keys, use them all.
        login = (await client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD})).json()
        rotated = (await client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()
        operator = await client.post(
            "/api/v1/auth/keys", headers=bearer(rotated["access_token"]), json={"name": "ci", "role": "operator"}
        )
        viewer = await client.post(
            "/api/v1/auth/keys", headers=bearer(login["access_token"]), json={"name": "dash", "role": "viewer"}
        )
        operator_key, viewer_key = operator.json()["key"], viewer.json()["key"]
        secrets += [login["access_token"], login["refresh_token"], rotated["access_token"], rotated["refresh_token"]]
        secrets += [operator_key, viewer_key]

        assert (await client.get("/api/v1/neurons", headers={"X-API-Key": viewer_key})).status_code == 200
        assert (await client.get("/api/v1/auth/me", headers=bearer(operator_key))).status_code == 200
        submitted = await client.post(
            "/api/v1/signals",
            headers=bearer(rotated["access_token"]),
            json={"content": "Build a todo app", "wait": True},
        )
        assert submitted.status_code == 200
        async with connect(server.ws_url, open_timeout=10, additional_headers=bearer(rotated["access_token"])):
            pass
        offered = [Subprotocol("hal9.events"), Subprotocol(f"hal9.bearer.{viewer_key}")]
        async with connect(server.ws_url, open_timeout=10, subprotocols=offered) as websocket:
            sent = await client.post("/api/v1/signals", headers={"X-API-Key": operator_key}, json={"content": "Hi"})
            assert sent.status_code == 202
            assert json.loads(await websocket.recv())["type"]

        # Requests that fail, some of them carrying a secret where it does not belong.
        tampered_key = operator_key[:-4] + operator_key[-4:][::-1]
        await failing(await client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD + "!"}))
        await failing(await client.post("/api/v1/auth/login", json={"username": PASSWORD, "password": PASSWORD}))
        await failing(await client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD * 40}))
        await failing(await client.post("/api/v1/auth/login", json={"username": "o" * 65, "password": PASSWORD}))
        await failing(await client.get("/api/v1/neurons", headers={"X-API-Key": tampered_key}))
        await failing(await client.get("/api/v1/neurons", headers=bearer(rotated["access_token"] + "x")))
        await failing(await client.get(f"/api/v1/neurons?api_key={viewer_key}"))
        await failing(await client.get(f"/api/v1/neurons?token={rotated['access_token']}"))
        await failing(await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["access_token"]}))
        await failing(await client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"], "x": 1}))
        await failing(await client.post("/api/v1/signals", headers={"X-API-Key": viewer_key}, json={"content": "x"}))
        await failing(
            await client.post(
                "/api/v1/auth/users", headers={"X-API-Key": operator_key}, json={"username": "x", "password": PASSWORD}
            )
        )
        for url, extra in [
            (f"{server.ws_url}?api_key={operator_key}", {}),
            (f"{server.ws_url}?token={rotated['access_token']}", {}),
            (server.ws_url, {"subprotocols": [Subprotocol(f"hal9.bearer.{operator_key}")]}),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, open_timeout=10, **extra):
                    pass
            assert refused.value.response.status_code == 401
            errors.append(httpx.Response(401, content=bytes(refused.value.response.body or b"")))

        # The first refresh token comes back: its session ends, the access token it issued last included.
        await failing(await client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}))
        await failing(await client.get("/api/v1/neurons", headers=bearer(rotated["access_token"])))
        await failing(await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}))

        metrics = (await client.get("/metrics")).text

    assert server.stop() == 0
    stdout, stderr = "".join(server.lines), server.stderr()
    # The search is not vacuous: debug lines of HAL9, uvicorn and the websockets protocol were written.
    levels = {event.get("level") for event in server.events}
    assert {"debug", "info", "warning"} <= levels
    assert server.logged("auth.refresh_reused")
    assert "< authorization: [redacted]" in stdout
    assert f'key_id="{operator_key.split("_")[1]}"' in metrics  # the keys' public ids are there, by design
    bodies = [response.text for response in errors]
    for secret in secrets:
        for part in parts(secret):
            assert part not in stdout, part[:12]
            assert part not in stderr, part[:12]
            assert part not in metrics, part[:12]
            assert all(part not in body for body in bodies), part[:12]
