"""A memory service on a real SQLite file in the test's temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hal9.config import MemoryConfig
from hal9.memory import SQLiteMemory


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "hal9.db"


@pytest.fixture
async def memory(db_path: Path) -> AsyncIterator[SQLiteMemory]:
    async with SQLiteMemory(db_path, MemoryConfig(cache_size=8)) as service:
        yield service
