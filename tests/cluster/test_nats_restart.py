"""A NATS restart (same port, same JetStream folder) loses nothing that was acknowledged."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from hal9 import Runtime
from hal9.cluster import ClusterState
from tests.cluster.sharing import MEMORY, cluster_config, found, importer_of, memory_of, publisher_of, until
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def test_memories_stored_before_and_during_a_nats_restart_all_reach_the_other_servers_and_kv_keeps_its_value(
    tmp_path: Path,
) -> None:
    """a stores 40 entries (acknowledged by JetStream) and a KV value; NATS stops; a stores 40 more at once,
    which it fails to publish, and forgets one of the first; NATS starts again: b (up throughout) and c
    (started after) find the 79 left, the value is still there."""
    nats = NatsServer()
    nats.start()
    try:
        config = {s: cluster_config(s, nats.url, tmp_path / s, MEMORY, ack_timeout=0.1) for s in ("a", "b", "c")}
        async with Runtime(config["a"]) as a, Runtime(config["b"]) as b:
            memory = memory_of(a)
            bucket = await a.services.require(ClusterState).key_value("restart_check", ttl=600)
            await bucket.put("written", b"before the restart")
            before = [await memory.store(f"walrus note {i} before", neuron_id="n") for i in range(40)]
            await publisher_of(a).settle(before[-1])  # every one acknowledged by JetStream

            await anyio.to_thread.run_sync(nats.stop)
            with anyio.fail_after(5):  # no NATS on a store's path (nor a forget's): each commits at once
                during = [await memory.store(f"walrus note {i} during", neuron_id="n") for i in range(40)]
                assert await memory.forget(before[0])  # b has it: the forget waits to be published
            publisher = publisher_of(a)
            with anyio.fail_after(10):
                while publisher.failures == 0:  # it tried, and JetStream did not acknowledge
                    await publisher.progress.wait()
            assert publisher.published == before[-1]
            everything_but_one = {f"walrus note {i} {w}" for i in range(40) for w in ("before", "during")}
            everything_but_one.remove("walrus note 0 before")
            assert await found(a, "walrus") == everything_but_one
            await anyio.to_thread.run_sync(nats.start)

            await publisher_of(a).settle(during[-1])
            want = await found(a, "walrus")
            assert want == everything_but_one
            async with Runtime(config["c"]) as c:
                for runtime in (b, c):

                    async def everything(runtime: Runtime = runtime) -> bool:
                        return await found(runtime, "walrus") == want

                    await until(everything, lambda runtime=runtime: importer_of(runtime).progress)
            fresh = await a.services.require(ClusterState).key_value("restart_check", ttl=600)
            assert (await fresh.get("written")).value == b"before the restart"
    finally:
        nats.remove()
