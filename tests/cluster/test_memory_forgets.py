"""Forgets across a cluster: an entry forgotten on one server is deleted on every server, and stays deleted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from hal9 import Runtime
from hal9.cluster import ClusterState
from hal9.memory.shared_entries import encode, encode_entry, encode_forgets
from tests.cluster.sharing import MEMORY, cluster_config, found, importer_of, memory_of, until
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def shared_everywhere(runtimes: tuple[Runtime, ...], query: str, want: set[str]) -> None:
    """Until a search for ``query`` finds ``want`` on every runtime."""
    for runtime in runtimes:

        async def finds(runtime: Runtime = runtime) -> bool:
            return await found(runtime, query) == want

        await until(finds, lambda runtime=runtime: importer_of(runtime).progress)


async def test_an_entry_forgotten_where_it_was_stored_is_deleted_on_every_server(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    configs = [cluster_config(s, nats_server.url, tmp_path / s, MEMORY) for s in ("a", "b", "c")]
    async with Runtime(configs[0]) as a, Runtime(configs[1]) as b, Runtime(configs[2]) as c:
        gone = await memory_of(a).store("the walrus deploy plan", neuron_id="design")
        await memory_of(a).store("the walrus rollback plan", neuron_id="design")
        await shared_everywhere((a, b, c), "walrus", {"the walrus deploy plan", "the walrus rollback plan"})

        assert await memory_of(a).forget(gone)
        assert not await memory_of(a).forget(gone)  # gone already
        await shared_everywhere((a, b, c), "walrus", {"the walrus rollback plan"})
        assert [memory_of(rt).entry_counts.total for rt in (a, b, c)] == [1, 1, 1]
        assert [importer_of(rt).forgotten for rt in (b, c)] == [1, 1]


async def test_an_imported_entry_forgotten_on_another_server_is_deleted_at_its_origin_too(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    configs = [cluster_config(s, nats_server.url, tmp_path / s, MEMORY) for s in ("a", "b", "c")]
    async with Runtime(configs[0]) as a, Runtime(configs[1]) as b, Runtime(configs[2]) as c:
        await memory_of(a).store("the narwhal incident notes", neuron_id="design")
        await memory_of(c).store("the narwhal postmortem", neuron_id="plan")
        await shared_everywhere((a, b, c), "narwhal", {"the narwhal incident notes", "the narwhal postmortem"})

        (copy,) = [e for e in await memory_of(b).search("incident") if e.content == "the narwhal incident notes"]
        assert await memory_of(b).forget(copy.id)  # b's copy of a's entry: a's own goes, and c's copy
        await shared_everywhere((a, b, c), "narwhal", {"the narwhal postmortem"})
    with sqlite3.connect(tmp_path / "a" / "hal9.db") as connection:
        kept = connection.execute("SELECT origin, origin_id, published FROM forgotten").fetchall()
    assert [(origin.split("/")[0], published) for origin, _, published in kept] == [("a", 1)]


async def test_an_entry_forgotten_elsewhere_is_not_imported_again_when_it_comes_again(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """A message delivered again after the forget (or a server far behind) does not bring the entry back."""
    async with Runtime(cluster_config("b", nats_server.url, tmp_path / "b", MEMORY)) as b:
        state = b.services.require(ClusterState)
        importer = importer_of(b)
        entry = encode("x/feedface", [encode_entry(7, ("design", None, "task", "an okapi sighting", "{}", 0.5, 1.0))])
        await state.jetstream.publish(state.subject("memory", "x"), entry)
        await until(lambda: _is(importer.imported == 1), lambda: importer.progress)
        assert await found(b, "okapi") == {"an okapi sighting"}

        forgets = json.loads(encode_forgets("y/cafe", [("x/feedface", 7)]))
        forgets["forgets"].append(["", 8])  # not a key: refused, the others are applied
        await state.jetstream.publish(state.subject("memory", "y"), json.dumps(forgets).encode())
        await until(lambda: _is(importer.forgotten == 1), lambda: importer.progress)
        assert importer.rejected == 1
        assert await found(b, "okapi") == set()

        seen = importer.progress
        await state.jetstream.publish(state.subject("memory", "x"), entry)  # again, as a redelivery would
        with anyio.fail_after(10):
            await seen.wait()
        assert importer.imported == 1
        assert await found(b, "okapi") == set()
        assert memory_of(b).entry_counts.total == 0


async def _is(value: bool) -> bool:
    return value
