"""Three real ``python -m hal9 serve`` processes with auth on share users, keys, sessions and revocations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.cli.helpers import AUTH_ON, KEY, ServerProcess, clean_env
from tests.network.nats_server import NatsServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONFIG = """
server_id = "{name}"
data_dir = "data-{name}"

[llm]
mode = "mock"

[network]
cluster = "accounts"

[[neurons]]
id = "{name}-worker"
layer = "L2"
kind = "implementation"
"""
PASSWORD = "correct horse battery staple"


def environment(nats: NatsServer) -> dict[str, str]:
    return {**AUTH_ON, "HAL9_NETWORK__NATS_URL": nats.url}


class Cluster:
    """Three servers started together on an empty cluster, their HTTP clients, and the first admin key."""

    def __init__(self, folder: Path, nats: NatsServer) -> None:
        self.folder = folder
        self.nats = nats
        self.servers: list[ServerProcess] = []
        self.clients: list[httpx.Client] = []
        for name in ("s1", "s2", "s3"):
            config = folder / f"{name}.toml"
            config.write_text(CONFIG.format(name=name), encoding="utf-8")
            self.servers.append(ServerProcess(folder, config, environment(nats)))
        for server in self.servers:
            server.wait_listening()
            self.clients.append(httpx.Client(base_url=server.url, timeout=10))
        self.printed = [KEY.findall(server.stderr()) for server in self.servers]
        self.admin = next((keys[0] for keys in self.printed if keys), "")

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for server in self.servers:
            server.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module's tests (starting three servers is most of their time)."""
    nats = NatsServer()
    nats.start()
    started = Cluster(tmp_path_factory.mktemp("cluster"), nats)
    yield started
    started.close()
    nats.remove()


def me(client: httpx.Client, **credentials: str) -> int:
    headers = {"X-API-Key": credentials["key"]} if "key" in credentials else {}
    if "token" in credentials:
        headers["Authorization"] = f"Bearer {credentials['token']}"
    return client.get("/api/v1/auth/me", headers=headers).status_code


def test_keys_users_and_sessions_made_on_one_server_hold_on_every_server(cluster: Cluster) -> None:
    """One first admin key for the cluster; keys, revocations, logins and refresh reuse hold across servers."""
    s1, s2, s3 = cluster.clients
    # The three started together on an empty cluster: exactly one made (and printed) the first admin key.
    assert sorted(len(keys) for keys in cluster.printed) == [0, 0, 1]
    admin = cluster.admin
    admin_headers = {"X-API-Key": admin}
    assert [me(client, key=admin) for client in (s1, s2, s3)] == [200, 200, 200]

    # A key made on s1 works on s2 and s3 at once; revoked on s2, it is refused by s1 and s3 at their next request.
    made = s1.post("/api/v1/auth/keys", json={"name": "ci", "role": "viewer"}, headers=admin_headers)
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert [me(client, key=key) for client in (s2, s3, s1)] == [200, 200, 200]
    assert s2.delete(f"/api/v1/auth/keys/{made.json()['id']}", headers=admin_headers).status_code == 200
    assert [me(client, key=key) for client in (s1, s3, s2)] == [401, 401, 401]
    listed = s3.get("/api/v1/auth/keys", headers=admin_headers).json()
    revoked = {k["name"]: k["revoked_at"] is not None for k in listed}
    assert (revoked["bootstrap-admin"], revoked["ci"]) == (False, True)

    # A user made on s3 logs in on s1; its access token is accepted by s2; names are one per cluster.
    user = {"username": "ada", "password": PASSWORD, "role": "operator"}
    assert s3.post("/api/v1/auth/users", json=user, headers=admin_headers).status_code == 201
    assert s1.post("/api/v1/auth/users", json={**user, "username": "ADA"}, headers=admin_headers).status_code == 409
    login = s1.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    assert login.status_code == 200, login.text
    first = login.json()
    assert me(s2, token=first["access_token"]) == 200

    # Refreshed on s2; the spent token presented again on s3 is a reuse: the whole session ends everywhere.
    second = s2.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert me(s3, token=second.json()["access_token"]) == 200
    reused = s3.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert "used before" in reused.json()["detail"]
    assert s1.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}).status_code == 401
    assert [me(client, token=second.json()["access_token"]) for client in (s1, s2, s3)] == [401, 401, 401]

    # A user disabled on s1 is refused by s3 from its next request.
    again = s2.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD}).json()
    assert s1.patch("/api/v1/auth/users/ada", json={"active": False}, headers=admin_headers).status_code == 200
    assert me(s3, token=again["access_token"]) == 401


async def test_one_refresh_token_spent_on_three_servers_at_once_is_honoured_once(cluster: Cluster) -> None:
    """The spend is a create on the token's key: one server wins, the others see a reuse."""
    clients = cluster.clients
    login = {"username": "bob", "password": PASSWORD}
    made = clients[0].post("/api/v1/auth/users", json=login, headers={"X-API-Key": cluster.admin})
    assert made.status_code == 201, made.text
    refresh = clients[1].post("/api/v1/auth/login", json=login).json()["refresh_token"]
    statuses: list[int] = []

    async def spend(server: ServerProcess) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            statuses.append((await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})).status_code)

    async with anyio.create_task_group() as tg:
        for server in cluster.servers:
            tg.start_soon(spend, server)
    assert sorted(statuses) == [200, 401, 401]


def test_the_keys_command_acts_on_the_clusters_keys(cluster: Cluster) -> None:
    """``hal9 keys create`` with a cluster's config makes a key every server honours; ``revoke`` ends it everywhere."""
    clients = cluster.clients

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hal9", "keys", "--config", "s1.toml", *args],
            cwd=cluster.folder,
            env=clean_env(environment(cluster.nats)),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    created = keys("create", "--name", "deploy", "--role", "operator")
    assert created.returncode == 0, created.stderr
    assert "cluster 'accounts'" in created.stderr
    (key,) = KEY.findall(created.stdout)
    assert [me(client, key=key) for client in clients] == [200, 200, 200]
    revoked = keys("revoke", key.split("_")[1])
    assert revoked.returncode == 0, revoked.stderr
    assert [me(client, key=key) for client in clients] == [401, 401, 401]
