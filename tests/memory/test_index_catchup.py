"""The search index is derived from SQLite: it catches up after a crash, and deletes always reach it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import anyio
import pytest

from hal9.config import MemoryConfig
from hal9.errors import MemoryIndexBusy
from hal9.memory import MemoryRecord, SQLiteMemory


async def assert_indexed_once(memory: SQLiteMemory, word: str, ids: list[int]) -> None:
    """The entries holding ``word`` are exactly ``ids``, and the index holds nothing else, nothing twice."""
    assert sorted(e.id for e in await memory.search(word, limit=1000)) == sorted(ids)
    assert memory._index is not None
    assert memory._index.size == len(ids)


async def _store(path: Path, texts: list[str]) -> list[int]:
    async with SQLiteMemory(path, MemoryConfig()) as memory:
        ids = await memory.store_many([MemoryRecord(text, "n") for text in texts])
        await memory.wait_searchable()
        return ids


@pytest.mark.anyio
async def test_an_index_ahead_of_its_watermark_is_caught_up_without_doubles(db_path: Path) -> None:
    """A crash after the index's commit but before the watermark moved: the entries are replaced, not added twice."""
    ids = await _store(db_path, [f"twice entry {i}" for i in range(20)])
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE search_index SET watermark = 0")
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        await assert_indexed_once(memory, "twice", ids)


@pytest.mark.anyio
async def test_a_delete_made_while_the_service_was_down_reaches_the_index(db_path: Path) -> None:
    """Any delete of an entry, even by another program, is journaled and applied at the next start."""
    ids = await _store(db_path, [f"journaled entry {i}" for i in range(5)])
    with sqlite3.connect(db_path) as connection:
        connection.execute("DELETE FROM entries WHERE id = ?", (ids[2],))
        assert connection.execute("SELECT id FROM search_index_deletes").fetchall() == [(ids[2],)]
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        await assert_indexed_once(memory, "journaled", ids[:2] + ids[3:])
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM search_index_deletes").fetchone() == (0,)


@pytest.mark.anyio
async def test_a_lost_or_foreign_index_is_rebuilt_from_the_store(db_path: Path, tmp_path: Path) -> None:
    ids = await _store(db_path, [f"rebuilt entry {i}" for i in range(7)])
    index = db_path.with_name(db_path.name + ".index")
    shutil.rmtree(index)
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        assert sorted(e.id for e in await memory.search("rebuilt")) == ids
    # Another database's index in its place (a copied folder): not trusted, rebuilt.
    other = tmp_path / "other" / "hal9.db"
    await _store(other, ["foreign entry"])
    shutil.rmtree(index)
    shutil.copytree(other.with_name("hal9.db.index"), index)
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        assert await memory.search("foreign") == []
        assert sorted(e.id for e in await memory.search("rebuilt")) == ids


@pytest.mark.anyio
async def test_a_deleted_entry_is_never_returned_even_before_the_index_applies_the_delete(db_path: Path) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(index_refresh_seconds=60)) as memory:
        ids = await memory.store_many([MemoryRecord(f"pending delete {i}", "n") for i in range(12)])
        await memory.wait_searchable()
        assert await memory.forget(ids[0])
        # The index still holds it until its next refresh: the search leaves it out, and fills the page.
        found = await memory.search("pending", limit=11, fresh=False)
        assert sorted(e.id for e in found) == ids[1:]


@pytest.mark.anyio
async def test_a_refresh_whose_watermark_write_failed_leaves_no_double_when_retried(db_path: Path) -> None:
    """The index committed, the store's watermark did not move: the retry deletes what is above it first."""
    async with SQLiteMemory(db_path, MemoryConfig(index_refresh_seconds=60)) as memory:
        ids = await memory.store_many([MemoryRecord(f"retried entry {i}", "n") for i in range(6)])
        feeder = memory._feeder
        assert feeder is not None
        mark = feeder._mark

        async def broken(watermark: int, deleted: set[int]) -> None:
            raise OSError("disk full")

        feeder._mark = broken  # type: ignore[method-assign]
        with pytest.raises(OSError, match="disk full"):
            await feeder.refresh()
        assert not await feeder._refresh_logged()  # as the feeder's task sees it: logged, to be retried
        feeder._mark = mark  # type: ignore[method-assign]
        await memory.wait_searchable()
        await assert_indexed_once(memory, "retried", ids)


@pytest.mark.anyio
async def test_a_crash_in_the_middle_of_a_rebuild_leaves_an_index_the_next_start_tops_up(db_path: Path) -> None:
    """reindex resets the watermark before it empties the index: killed in between, nothing is lost."""
    ids = await _store(db_path, [f"rebuilt later {i}" for i in range(8)])
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        feeder = memory._feeder
        assert feeder is not None
        await feeder.forget_watermark()  # what rebuild does first; the "crash" comes before the clear
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        await assert_indexed_once(memory, "rebuilt", ids)


@pytest.mark.anyio
async def test_reindex_while_the_feeder_runs_loses_nothing(db_path: Path) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(index_refresh_seconds=0)) as memory:
        ids: list[int] = []

        async def store() -> None:
            for round_ in range(20):
                ids.extend(await memory.store_many([MemoryRecord(f"busy {round_} {i}", "n") for i in range(10)]))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(store)
            await memory.reindex()
        await memory.wait_searchable()
        await assert_indexed_once(memory, "busy", sorted(ids))


@pytest.mark.anyio
async def test_a_second_process_is_refused_before_it_touches_the_index(db_path: Path) -> None:
    await _store(db_path, ["locked entry"])
    marker = db_path.with_name("hal9.db.index") / "hal9-index.json"
    async with SQLiteMemory(db_path, MemoryConfig()) as memory:
        marker.write_text("damaged")  # would make an opener wipe the folder
        with pytest.raises(MemoryIndexBusy):
            async with SQLiteMemory(db_path, MemoryConfig()):
                pass
        assert [e.content for e in await memory.search("locked")] == ["locked entry"]
