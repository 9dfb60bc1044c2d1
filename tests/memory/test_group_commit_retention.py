"""Group commit (durable, fewer commits than stores), integrity, and bounded retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from hal9.config import MemoryConfig
from hal9.memory import MemoryNotRunning, MemoryRecord, SQLiteMemory


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
    return int(count)


@pytest.mark.anyio
async def test_concurrent_stores_share_commits_and_each_is_durable_when_it_returns(db_path: Path) -> None:
    stores = 300
    returned: list[int] = []
    async with SQLiteMemory(db_path, MemoryConfig(batch_size=64)) as memory:

        async def store(i: int) -> None:
            entry_id = await memory.store(f"concurrent entry {i}", neuron_id=f"n{i % 3}")
            # Durable already: another connection (another process would do the same) sees it.
            with sqlite3.connect(db_path) as other:
                assert other.execute("SELECT 1 FROM entries WHERE id = ?", (entry_id,)).fetchone() == (1,)
            returned.append(entry_id)

        async with anyio.create_task_group() as tg:
            for i in range(stores):
                tg.start_soon(store, i)
        commits = memory.commits
        # The search index holds every stored entry once.
        found = await memory.search("concurrent", limit=1000)
        assert sorted(e.id for e in found) == sorted(returned)

    assert len(set(returned)) == stores
    assert count_rows(db_path) == stores
    assert commits < stores / 4, f"{commits} commits for {stores} stores"
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.anyio
async def test_a_batch_holds_at_most_batch_size_rows(db_path: Path) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(batch_size=10)) as memory:
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(lambda i=i: memory.store(f"e{i}", neuron_id="n"))
        assert memory.commits >= 10


@pytest.mark.anyio
async def test_store_many_writes_its_entries_in_one_transaction_in_order(memory: SQLiteMemory) -> None:
    ids = await memory.store_many([MemoryRecord(f"item {i}", "n", kind="task") for i in range(5)])
    assert ids == list(range(ids[0], ids[0] + 5))
    assert memory.commits == 1
    entries = [await memory.retrieve(i) for i in ids]
    assert [e.content for e in entries if e is not None] == [f"item {i}" for i in range(5)]


@pytest.mark.anyio
async def test_stop_commits_every_store_it_accepted_and_refuses_the_rest(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    stored: list[int] = []
    refused: list[int] = []

    async def store(i: int) -> None:
        try:
            stored.append(await memory.store(f"q{i}", neuron_id="n"))
        except MemoryNotRunning:
            refused.append(i)

    async with anyio.create_task_group() as tg, memory:
        for i in range(20):
            tg.start_soon(store, i)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
    assert len(stored) + len(refused) == 20
    assert stored
    assert count_rows(db_path) == len(stored)


@pytest.mark.anyio
async def test_retention_removes_every_old_unimportant_unused_entry_in_bounded_statements(db_path: Path) -> None:
    """Entries at the default importance (0.5) age out by default; a run repeats its batch until none qualify."""
    settings = MemoryConfig(retention_max_age_seconds=60, retention_batch=2)
    async with SQLiteMemory(db_path, settings) as memory:
        low = [await memory.store(f"low {i}", neuron_id="n", importance=0.1) for i in range(3)]
        default = [await memory.store(f"low default {i}", neuron_id="n") for i in range(2)]
        high = await memory.store("important low", neuron_id="n", importance=0.9)
        later = time.time() + 3600
        assert await memory.apply_retention(now=time.time()) == 0  # nothing is old yet
        assert [await memory.apply_retention(now=later) for _ in range(2)] == [5, 0]
        assert [await memory.retrieve(i) for i in low + default] == [None] * 5
        assert await memory.retrieve(high) is not None
        assert memory.entry_counts.by_neuron == {"n": 1}
        # Retention reaches the search index: only the kept entry is found.
        assert [e.id for e in await memory.search("low")] == [high]
    assert count_rows(db_path) == 1


@pytest.mark.anyio
async def test_retention_keeps_an_old_entry_that_was_used_recently(db_path: Path) -> None:
    settings = MemoryConfig(retention_max_age_seconds=60, retention_min_importance=0.5)
    async with SQLiteMemory(db_path, settings) as memory:
        used = await memory.store("used", neuron_id="n", importance=0.1)
        unused = await memory.store("unused", neuron_id="n", importance=0.1)
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE entries SET created_at = created_at - 7200, last_accessed = last_accessed - 7200")
    async with SQLiteMemory(db_path, settings) as memory:
        assert await memory.retrieve(used) is not None
        assert await memory.apply_retention() == 1
        assert await memory.retrieve(used) is not None
        assert await memory.retrieve(unused) is None


@pytest.mark.anyio
async def test_upkeep_runs_retention_once_per_interval_and_writes_access_counts(db_path: Path) -> None:
    settings = MemoryConfig(
        retention_max_age_seconds=60, retention_min_importance=0.5, retention_interval_seconds=600, retention_batch=10
    )
    async with SQLiteMemory(db_path, settings) as memory:
        kept = await memory.store("kept", neuron_id="n", importance=0.9)
        old = [await memory.store(f"old {i}", neuron_id="n", importance=0.1) for i in range(3)]
        await memory.retrieve(kept)
        with sqlite3.connect(db_path) as connection:
            connection.execute("UPDATE entries SET created_at = created_at - 7200, last_accessed = created_at - 7200")
        start = time.monotonic()
        assert await memory.upkeep(start) == 0  # the first retention is due one interval after start
        assert await memory.upkeep(start + 601) == 3
        assert await memory.upkeep(start + 602) == 0  # not due again yet
        assert [await memory.retrieve(i) for i in old] == [None] * 3
    with sqlite3.connect(db_path) as connection:
        (count,) = connection.execute("SELECT access_count FROM entries WHERE id = ?", (kept,)).fetchone()
    assert count == 1  # the retrieve, written by the first upkeep round
