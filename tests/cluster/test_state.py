"""The cluster state service: its place among the services, its JetStream names, and a clear refusal."""

from __future__ import annotations

import anyio
import pytest

from hal9 import Runtime
from hal9.cluster import ClusterState
from hal9.config import Config
from hal9.errors import NetworkUnavailable
from tests.network.nats_server import NatsServer


def _config(url: str, **network: object) -> Config:
    return Config.model_validate({"server_id": "a", "network": {"nats_url": url, "cluster": "c1", **network}})


def test_the_cluster_state_is_entered_first_and_only_with_shared_state() -> None:
    assert next(iter(_config("nats://127.0.0.1:4222").service_paths)) == "cluster"
    assert "cluster" not in _config("nats://127.0.0.1:4222", shared_state=False).service_paths
    assert "cluster" not in Config().service_paths


@pytest.mark.anyio
async def test_buckets_and_streams_are_named_for_the_cluster_and_shared(nats_server: NatsServer) -> None:
    async with (
        ClusterState(_config(nats_server.url).network, "a") as a,
        ClusterState(_config(nats_server.url).network, "b") as b,
    ):
        first = await a.key_value("budget")
        second = await b.key_value("budget")
        await first.put("day", b"1.5")
        assert (await second.get("day")).value == b"1.5"
        assert a.bucket_name("budget") == "hal9_c1_budget"
        name = await a.stream("memory", [a.subject("memory", ">")])
        assert name == "HAL9_c1_memory"
        assert await b.stream("memory", [b.subject("memory", ">")]) == name


@pytest.mark.anyio
async def test_a_runtime_in_distributed_mode_has_the_cluster_state(nats_server: NatsServer) -> None:
    async with Runtime(_config(nats_server.url)) as runtime:
        state = runtime.services.require(ClusterState)
        assert state.connected


@pytest.mark.anyio
async def test_a_nats_without_jetstream_is_refused_with_the_way_out() -> None:
    server = NatsServer(jetstream=False)
    server.start()
    try:
        with pytest.raises(NetworkUnavailable, match="shared_state = false"):
            async with ClusterState(_config(server.url).network, "a"):
                pass
    finally:
        server.remove()


@pytest.mark.anyio
async def test_the_cluster_state_stops_cleanly_while_nats_is_down(nats_server: NatsServer) -> None:
    # A short ack timeout: the write below fails within a second rather than five.
    async with ClusterState(_config(nats_server.url, ack_timeout=0.1).network, "a") as state:
        bucket = await state.key_value("budget")
        nats_server.stop()
        with anyio.fail_after(10):
            # The client notices the lost server on its own; it offers nothing to await.
            while state.client.is_connected:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        with pytest.raises(Exception):  # noqa: B017,PT011 - whichever error the client gives while down
            await bucket.put("day", b"1")
    assert not state.connected
