"""The cluster's auth store in process, against a real nats-server: what the three-server test cannot stage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import pytest

from hal9.auth import AuthNotRunning, AuthService, Role
from hal9.auth.shared_store import BUCKET
from hal9.cluster import ClusterState
from hal9.config import AuthConfig, Config
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio

SETTINGS = AuthConfig(password_hash_memory_kib=1024, password_hash_time_cost=1, password_hash_parallelism=1)


@asynccontextmanager
async def auth_service(url: str, folder: Path, name: str) -> AsyncIterator[AuthService]:
    """An auth service on the cluster's store, as a server of the cluster would have (its own data folder)."""
    config = Config.model_validate({"network": {"nats_url": url, "cluster": "auth-test", "ack_timeout": 0.2}})
    data = folder / name
    data.mkdir(mode=0o700)
    async with (
        ClusterState(config.network, name) as state,
        AuthService(data / "hal9.db", SETTINGS, cluster=state) as auth,
    ):
        yield auth


async def test_without_nats_a_request_is_refused_as_unavailable_never_let_through(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with auth_service(nats_server.url, tmp_path, "a") as auth:
        key = (await auth.create_key("ci", Role.VIEWER)).token
        assert (await auth.authenticate(None, key)).name == "ci"
        await anyio.to_thread.run_sync(nats_server.stop)
        with pytest.raises(AuthNotRunning, match="cannot be reached"):
            await auth.authenticate(None, key)
        await anyio.to_thread.run_sync(nats_server.start)
        # A ping answered once the client has reconnected on its own: then the key is honoured again.
        await auth.store.state.client.flush(timeout=10)  # type: ignore[attr-defined]
        assert (await auth.authenticate(None, key)).name == "ci"
    assert not (tmp_path / "a" / "auth-signing.key").exists()  # the key is the cluster's


async def test_a_user_whose_name_was_never_claimed_is_no_one_and_leaves_the_name_free(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """A server that died between writing a user and claiming its name left a record nobody can use."""
    async with auth_service(nats_server.url, tmp_path, "a") as auth:
        kv = await auth.store.state.key_value(BUCKET)  # type: ignore[attr-defined]
        orphan = {"id": 99, "username": "eve", "role": "admin", "active": True, "created_at": 0, "password_hash": "x"}
        await kv.put("user.99", json.dumps(orphan).encode())
        assert await auth.users() == []
        eve = await auth.create_user("eve", "a long enough password", Role.VIEWER)
        assert [user.username for user in await auth.users()] == ["eve"]
        assert eve.id != 99
        assert eve.role is Role.VIEWER


async def test_two_servers_hand_out_distinct_user_ids_and_one_name_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        auth_service(nats_server.url, tmp_path, "a") as a,
        auth_service(nats_server.url, tmp_path, "b") as b,
    ):
        made = []
        failed = []

        async def create(auth: AuthService, name: str) -> None:
            try:
                made.append(await auth.create_user(name, "a long enough password", Role.VIEWER))
            except Exception as exc:  # the test sorts the outcomes
                failed.append(type(exc).__name__)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(create, a, f"user{i}")
                tg.start_soon(create, b, f"user{i}")
                tg.start_soon(create, b, f"USER{i}")
    assert len(made) == 5
    assert failed == ["AuthConflict"] * 10
    assert len({user.id for user in made}) == 5
