"""``python -m hal9 memory reindex``: the search index rebuilt from the stored entries, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from hal9.config import MemoryConfig
from hal9.memory import MemoryRecord, SQLiteMemory
from tests.cli.helpers import run_cli

pytestmark = pytest.mark.slow


async def _store(path: Path, count: int) -> list[int]:
    async with SQLiteMemory(path, MemoryConfig()) as memory:
        return await memory.store_many([MemoryRecord(f"reindexed entry {i}", "n") for i in range(count)])


async def _found(path: Path) -> list[int]:
    async with SQLiteMemory(path, MemoryConfig()) as memory:
        return sorted(e.id for e in await memory.search("reindexed", limit=100))


def test_reindex_rebuilds_a_lost_index_and_names_the_database(tmp_path: Path) -> None:
    database = tmp_path / "data" / "hal9.db"
    ids = anyio.run(_store, database, 30)
    (tmp_path / "hal9.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    shutil.rmtree(database.with_name("hal9.db.index"))

    result = run_cli("memory", "--config", "hal9.toml", "reindex", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"reindexed 30 entries of {database.resolve()}" in result.stdout
    assert anyio.run(_found, database) == ids


def test_reindex_refuses_a_missing_database_and_one_in_use(tmp_path: Path) -> None:
    (tmp_path / "hal9.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    missing = run_cli("memory", "--config", "hal9.toml", "reindex", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no database at" in missing.stderr
    assert not (tmp_path / "data").exists()

    database = tmp_path / "data" / "hal9.db"
    anyio.run(_store, database, 3)

    async def reindex_while_open() -> None:
        async with SQLiteMemory(database, MemoryConfig()):
            busy = await anyio.to_thread.run_sync(
                lambda: run_cli("memory", "--config", "hal9.toml", "reindex", cwd=tmp_path)
            )
        assert busy.returncode == 2
        assert "in use by another process" in busy.stderr
        assert "Traceback" not in busy.stderr

    anyio.run(reindex_while_open)
