"""Memory across a cluster: what one server stores, the others find; each keeps its own store and index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hal9 import Runtime
from hal9.cluster import ClusterState
from hal9.memory.shared_entries import encode, encode_entry
from tests.cluster.sharing import MEMORY, cluster_config, found, importer_of, memory_of, publisher_of, until
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def test_a_memory_stored_on_one_server_is_found_on_the_two_others(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """a stores; b and c find it by search, and a finds c's: every server imports the others' entries once."""
    configs = [cluster_config(s, nats_server.url, tmp_path / s, MEMORY) for s in ("a", "b", "c")]
    async with Runtime(configs[0]) as a, Runtime(configs[1]) as b, Runtime(configs[2]) as c:
        await memory_of(a).store("the zebra migration runbook", neuron_id="design", kind="result")
        await memory_of(c).store("the zebra rollback plan", neuron_id="plan")
        want = {"the zebra migration runbook", "the zebra rollback plan"}
        for runtime in (a, b, c):
            importer = importer_of(runtime)

            async def both(runtime: Runtime = runtime) -> bool:
                return await found(runtime, "zebra") == want

            await until(both, lambda importer=importer: importer.progress)
        entries = await memory_of(b).search("runbook")
        assert [(e.neuron_id, e.kind) for e in entries] == [("design", "result")]
        # An entry came once to each server: a server does not import its own, nor one twice.
        assert [memory_of(rt).entry_counts.total for rt in (a, b, c)] == [2, 2, 2]
    with sqlite3.connect(tmp_path / "b" / "hal9.db") as connection:
        origins = connection.execute("SELECT origin FROM entries ORDER BY origin").fetchall()
    assert [origin.split("/")[0] for (origin,) in origins] == ["a", "c"]


async def test_entries_arriving_twice_are_imported_once_and_invalid_ones_are_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """The same message published twice (a retry after a lost ack), and one with a bad entry: b keeps one good copy."""
    async with Runtime(cluster_config("b", nats_server.url, tmp_path / "b", MEMORY)) as b:
        memory = memory_of(b)
        state = b.services.require(ClusterState)
        good = encode_entry(7, ("design", None, "task", "a quokka appears", "{}", 0.5, 1.0))
        bad = encode_entry(8, ("design", None, "nonsense-kind", "a quokka hides", "{}", 0.5, 1.0))
        message = encode("x/feedface", [good, bad])
        subject = state.subject("memory", "x")
        for _ in range(2):
            await state.jetstream.publish(subject, message)  # no message id: the stream keeps both
        await state.jetstream.publish(subject, b"not json")
        importer = importer_of(b)

        async def settled() -> bool:
            return importer.bad_messages == 1 and importer.rejected == 2

        await until(settled, lambda: importer.progress)
        assert await found(b, "quokka") == {"a quokka appears"}
        assert importer.imported == 1
        assert memory.entry_counts.total == 1


async def test_a_single_server_and_shared_state_off_keep_their_memory_to_themselves(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Without shared state (network.shared_state = false, or no NATS) the memory has no replication."""
    config = cluster_config("a", nats_server.url, tmp_path / "a", MEMORY)
    off = config.model_copy(update={"network": config.network.model_copy(update={"shared_state": False})})
    async with Runtime(off) as a:
        assert memory_of(a).replication is None
    alone = config.model_copy(update={"network": config.network.model_copy(update={"nats_url": None})})
    async with Runtime(alone) as single:
        assert memory_of(single).replication is None
        await memory_of(single).store("alone", neuron_id="n")
        assert await found(single, "alone") == {"alone"}


async def test_a_server_started_again_on_an_empty_data_folder_gets_back_what_the_stream_holds(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """a stores, b stores; a's folder is lost: a new a (same server id) finds both entries again."""
    async with Runtime(cluster_config("b", nats_server.url, tmp_path / "b", MEMORY)) as b:
        async with Runtime(cluster_config("a", nats_server.url, tmp_path / "a1", MEMORY)) as a:
            last = await memory_of(a).store("the okapi is a giraffe", neuron_id="n")
            await publisher_of(a).settle(last)
        await memory_of(b).store("the okapi lives in forests", neuron_id="n")
        async with Runtime(cluster_config("a", nats_server.url, tmp_path / "a2", MEMORY)) as again:

            async def both() -> bool:
                return await found(again, "okapi") == {"the okapi is a giraffe", "the okapi lives in forests"}

            await until(both, lambda: importer_of(again).progress)


def test_a_server_id_becomes_one_subject_token_and_distinct_ids_stay_distinct() -> None:
    """Server ids may hold '.' and ':', which NATS subjects and consumer names cannot: they are replaced and keyed."""
    from hal9.cluster.consumer import subject_token

    assert subject_token("server-a_1") == "server-a_1"
    dotted, coloned = subject_token("host.example:8081"), subject_token("host_example_8081")
    assert dotted.startswith("host_example_8081-")
    assert coloned == "host_example_8081"
    assert dotted != subject_token("host:example.8081")
    assert all(c.isalnum() or c in "_-" for c in dotted)
