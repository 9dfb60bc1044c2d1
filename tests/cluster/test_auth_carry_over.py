"""A server that joins a cluster brings the users and API keys it kept on its own, once (real nats-server)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hal9.auth import AuthService, Role
from hal9.auth.carry_over import OwnAuth, read_own
from hal9.cluster import ClusterState
from hal9.config import AuthConfig, Config
from hal9.errors import InvalidCredentials, NotAuthenticated
from tests.network.nats_server import NatsServer

SETTINGS = AuthConfig(password_hash_memory_kib=1024, password_hash_time_cost=1, password_hash_parallelism=1)
ALICE = "alice's long enough password"


def data_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@asynccontextmanager
async def alone(tmp_path: Path, name: str) -> AsyncIterator[AuthService]:
    """The server's auth before it joined: its own tables in its hal9.db."""
    async with AuthService(data_folder(tmp_path, name) / "hal9.db", SETTINGS) as auth:
        yield auth


@asynccontextmanager
async def joined(url: str, tmp_path: Path, name: str) -> AsyncIterator[AuthService]:
    """The same server (same data folder, same server id) in the cluster."""
    config = Config.model_validate({"network": {"nats_url": url, "cluster": "carry", "ack_timeout": 0.2}})
    async with (
        ClusterState(config.network, name) as state,
        AuthService(data_folder(tmp_path, name) / "hal9.db", SETTINGS, cluster=state) as auth,
    ):
        yield auth


@pytest.mark.anyio
async def test_a_joining_server_brings_its_users_and_usable_keys_and_every_server_honours_them(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with alone(tmp_path, "a") as auth:
        kept = await auth.create_key("ci", Role.OPERATOR)
        revoked = await auth.create_key("old", Role.VIEWER)
        await auth.revoke_key(revoked.key.id)
        await auth.create_user("alice", ALICE, Role.ADMIN)
        disabled = await auth.create_user("bob", "bob's long enough password", Role.VIEWER)
        await auth.set_user_active(disabled.username, False)

    with capture_logs() as logs:
        async with joined(nats_server.url, tmp_path, "a") as a, joined(nats_server.url, tmp_path, "b") as b:
            for server in (a, b):
                principal = await server.authenticate(None, kept.token)
                assert (principal.name, principal.role) == ("ci", Role.OPERATOR)
                with pytest.raises(NotAuthenticated):
                    await server.authenticate(None, revoked.token)  # a revoked key stays refused
                tokens = await server.login("alice", ALICE)
                assert (await server.authenticate(tokens.access_token)).role is Role.ADMIN
                with pytest.raises(InvalidCredentials):
                    await server.login("bob", "bob's long enough password")  # still disabled
            assert sorted(user.username for user in await b.users()) == ["alice", "bob"]
            assert [key.name for key in await b.keys()] == ["ci"]
    carried = [entry for entry in logs if entry["event"] == "auth.carried_over"]
    assert [(entry["users"], entry["keys"]) for entry in carried] == [(2, 1)]  # server b had nothing of its own


@pytest.mark.anyio
async def test_a_key_revoked_in_the_cluster_stays_revoked_and_one_made_while_out_comes_in_at_the_rejoin(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with alone(tmp_path, "a") as auth:
        key = await auth.create_key("ci", Role.VIEWER)
        await auth.create_user("carol", ALICE, Role.VIEWER)
    async with joined(nats_server.url, tmp_path, "a") as a:
        assert (await a.revoke_key(key.key.id)).revoked_at is not None
    async with alone(tmp_path, "a") as auth:  # out of the cluster again: its own tables, where the key is not revoked
        assert (await auth.authenticate(None, key.token)).name == "ci"
        later = await auth.create_key("later", Role.VIEWER)
    with capture_logs() as logs:
        async with joined(nats_server.url, tmp_path, "a") as a:
            with pytest.raises(NotAuthenticated):
                await a.authenticate(None, key.token)
            assert (await a.authenticate(None, later.token)).name == "later"
            assert sorted((k.name, k.revoked_at is not None) for k in await a.keys()) == [
                ("ci", True),
                ("later", False),
            ]
    assert [(e["users"], e["keys"]) for e in logs if e["event"] == "auth.carried_over"] == [(0, 1)]
    assert not [e for e in logs if e["event"] == "auth.users_left_out"]  # carol is the cluster's carol


@pytest.mark.anyio
async def test_a_user_whose_name_the_cluster_has_is_left_out_and_the_clusters_is_kept(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with alone(tmp_path, "a") as auth:
        await auth.create_user("alice", ALICE, Role.ADMIN)
    async with alone(tmp_path, "c") as auth:
        await auth.create_user("Alice", "another long enough password", Role.VIEWER)
        their_key = await auth.create_key("c-ci", Role.VIEWER)

    async with joined(nats_server.url, tmp_path, "a"):
        pass
    with capture_logs() as logs:
        async with joined(nats_server.url, tmp_path, "c") as c:
            assert (await c.authenticate(None, their_key.token)).name == "c-ci"  # its keys come all the same
            tokens = await c.login("alice", ALICE)
            assert (await c.authenticate(tokens.access_token)).role is Role.ADMIN
            with pytest.raises(InvalidCredentials):
                await c.login("Alice", "another long enough password")
            assert [user.username for user in await c.users()] == ["alice"]
    left_out = [entry for entry in logs if entry["event"] == "auth.users_left_out"]
    assert [entry["users"] for entry in left_out] == [1]
    assert [(e["users"], e["keys"]) for e in logs if e["event"] == "auth.carried_over"] == [(0, 1)]


def test_a_database_without_auth_tables_or_no_database_at_all_has_nothing_to_bring(tmp_path: Path) -> None:
    assert read_own(tmp_path / "missing.db", 0.0) == OwnAuth([], [])
    other = tmp_path / "hal9.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY)")
    assert read_own(other, 0.0) == OwnAuth([], [])
