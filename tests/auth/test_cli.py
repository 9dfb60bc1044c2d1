"""A real ``python -m hal9 serve`` with auth: loopback rule, the first admin key, the users and keys commands, /ws."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hal9.cli import is_loopback
from tests.cli.helpers import AUTH_ON, KEY, ServerProcess, StartServer, clean_env, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONFIG = 'data_dir = "data"\nservices = { llm = "hal9.llm:LLMService" }\n'


def cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "hal9.toml").write_text(CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "hal9", *args[:1], "--config", "hal9.toml", *args[1:]],
        cwd=tmp_path,
        env=clean_env(AUTH_ON),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_on_all_interfaces_without_auth_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path, env={"HAL9_AUTH__ENABLED": "false"})
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 with authentication disabled" in result.stderr
    assert "bind to a loopback address" in result.stderr
    assert "server.listening" not in result.stdout
    (tmp_path / "off.toml").write_text('[auth]\nenabled = false\n[server]\nhost = "::"\n')
    from_file = run_cli("serve", "--config", "off.toml", "--port", "0", cwd=tmp_path)
    assert from_file.returncode == 2
    assert "refusing to serve on ::" in from_file.stderr


def test_first_start_prints_an_admin_key_once_on_stderr_only(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(CONFIG, env=AUTH_ON)
    (key,) = KEY.findall(server.stderr())
    stdout = "".join(server.lines)
    assert key not in stdout  # the JSON logs stay secret-free
    (logged,) = server.logged("auth.bootstrap_key_created")
    assert key.split("_")[1] == logged["key_id"]
    me = httpx.get(f"{server.url}/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10)
    assert me.json()["role"] == "admin"
    assert httpx.get(f"{server.url}/api/v1/neurons", timeout=10).status_code == 401
    metrics = server.scrape()
    assert key.split("_", 2)[2] not in metrics
    assert server.stop() == 0
    assert key not in "".join(server.lines)

    again = start_server(CONFIG, env=AUTH_ON)  # same data_dir: not a first start any more
    assert KEY.findall(again.stderr()) == []
    assert again.logged("auth.bootstrap_key_created") == []
    assert httpx.get(f"{again.url}/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10).status_code == 200
    signing_key = tmp_path / "data" / "auth-signing.key"
    assert signing_key.stat().st_mode & 0o777 == 0o600


def test_users_and_keys_commands_and_a_revocation_seen_by_a_running_server(
    start_server: StartServer, tmp_path: Path
) -> None:
    created = cli(
        tmp_path, "users", "create", "olga", "--role", "operator", "--password-stdin", stdin="s3cret-enough-pw\n"
    )
    assert created.returncode == 0, created.stderr
    assert "created user olga" in created.stdout
    assert "s3cret" not in created.stdout + created.stderr
    duplicate = cli(tmp_path, "users", "create", "OLGA", "--password-stdin", stdin="s3cret-enough-pw\n")
    assert duplicate.returncode == 2
    assert "exists already" in duplicate.stderr
    short = cli(tmp_path, "users", "create", "bo", "--password-stdin", stdin="short\n")
    assert short.returncode == 2
    assert "password" in short.stderr
    assert cli(tmp_path, "users", "list").stdout.split() == ["1", "olga", "operator", "active"]

    made = cli(tmp_path, "keys", "create", "--name", "ci", "--role", "viewer", "--expires-days", "30")
    assert made.returncode == 0, made.stderr
    (key,) = KEY.findall(made.stdout)
    key_id = key.split("_")[1]
    listed = cli(tmp_path, "keys", "list").stdout
    assert listed.split() == [key_id, "ci", "viewer", "active"]

    server = start_server(CONFIG, env=AUTH_ON)
    assert KEY.findall(server.stderr()) == []  # users exist: no bootstrap key
    login = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "olga", "password": "s3cret-enough-pw"}, timeout=10
    )
    assert login.status_code == 200
    assert httpx.get(f"{server.url}/api/v1/neurons", headers={"X-API-Key": key}, timeout=10).status_code == 200

    assert cli(tmp_path, "keys", "revoke", key_id).returncode == 0
    assert cli(tmp_path, "keys", "list").stdout.split() == [key_id, "ci", "viewer", "revoked"]
    refused = httpx.get(f"{server.url}/api/v1/neurons", headers={"X-API-Key": key}, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key is revoked"

    assert cli(tmp_path, "users", "disable", "olga").stdout.strip() == "user olga is disabled"
    access = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert httpx.get(f"{server.url}/api/v1/neurons", headers=access, timeout=10).status_code == 401
    assert cli(tmp_path, "keys", "revoke", "ffffffffffff").returncode == 2


async def test_the_websocket_needs_credentials(start_server: StartServer) -> None:
    server: ServerProcess = start_server(CONFIG, env=AUTH_ON)
    (key,) = KEY.findall(server.stderr())
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, open_timeout=10):
            pass
    assert refused.value.response.status_code == 401
    async with connect(server.ws_url, open_timeout=10, additional_headers={"X-API-Key": key}) as websocket:
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key}, timeout=15) as client:
            response = await client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
            assert response.status_code == 200
        assert '"type"' in str(await websocket.recv())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("hal9.example", False)],
)  # fmt: skip
def test_only_loopback_addresses_may_serve_without_auth(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
