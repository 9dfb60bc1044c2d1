"""Memory stays bounded: past ``max_entries`` or ``max_bytes`` the least important, then longest unused, go."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from hal9.config import MemoryConfig
from hal9.memory import MemoryRecord, SQLiteMemory
from hal9.memory.retention import used_bytes


@pytest.mark.anyio
async def test_a_store_at_its_cap_under_a_steady_stream_stays_within_it_evicting_least_important_oldest_first(
    db_path: Path,
) -> None:
    cap = 200
    async with SQLiteMemory(db_path, MemoryConfig(max_entries=cap)) as memory:
        lesson = await memory.store("a lesson about caps", neuron_id="n", kind="lesson", importance=0.1)
        important = await memory.store_many([MemoryRecord(f"important {i}", "n", importance=0.9) for i in range(20)])
        stream: list[int] = []
        for round_ in range(20):
            stream += await memory.store_many([MemoryRecord(f"stream {round_} {i}", "n") for i in range(50)])
            await memory.evict()
            assert memory.entry_counts.total <= cap
        with sqlite3.connect(db_path) as connection:
            kept = {row[0] for row in connection.execute("SELECT id FROM entries")}
        assert lesson in kept  # never evicted, though its importance is the lowest
        assert set(important) <= kept  # the more important stay
        survivors = sorted(kept & set(stream))
        assert survivors == stream[-len(survivors) :]  # of equal importance, the oldest went first
        # Eviction reaches the search index.
        found = await memory.search("stream", limit=1000)
        assert sorted(e.id for e in found) == survivors


@pytest.mark.anyio
async def test_entries_used_recently_outlive_older_unused_ones(db_path: Path) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(max_entries=10)) as memory:
        ids = await memory.store_many([MemoryRecord(f"entry {i}", "n") for i in range(10)])
        assert await memory.retrieve(ids[0]) is not None  # the oldest, but just used
        await memory.store_many([MemoryRecord(f"newer {i}", "n") for i in range(5)])
        await memory.evict()
        assert await memory.retrieve(ids[0]) is not None
        assert await memory.retrieve(ids[1]) is None


@pytest.mark.anyio
async def test_the_background_task_evicts_after_a_commit_passes_the_cap(db_path: Path) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(max_entries=50)) as memory:
        evicted = memory._evicted
        await memory.store_many([MemoryRecord(f"entry {i}", "n") for i in range(80)])
        with anyio.fail_after(10):
            await evicted.wait()
        assert memory.entry_counts.total <= 50


@pytest.mark.anyio
async def test_max_bytes_bounds_the_database_in_use(db_path: Path) -> None:
    cap = 256 * 1024
    async with SQLiteMemory(db_path, MemoryConfig(max_bytes=cap)) as memory:
        for round_ in range(10):
            await memory.store_many([MemoryRecord(f"blob {round_} {i} " + "x" * 2000, "n") for i in range(50)])
            if await used_bytes(memory._writable()) > cap:
                assert await memory.evict() > 0
                assert await used_bytes(memory._writable()) <= cap
        assert memory.entry_counts.total < 500
