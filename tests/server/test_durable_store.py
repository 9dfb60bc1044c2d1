"""The SQLite request store on its own: group commit, bounds, and the sweep of an earlier run's records."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hal9.requests import INTERRUPTED, RequestRecord
from hal9.requests import sqlite as sqlite_store
from hal9.requests.sqlite import SQLiteRequests, _Batch

write = sqlite_store._write

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteRequests]:
    requests = SQLiteRequests(tmp_path / "data" / "hal9.db", retention=3600, max_rows=5)
    await requests.open()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(requests.run)
        yield requests
        tasks.cancel_scope.cancel()
    await requests.close()


def record(request_id: str, instance: str = "run-1", created_at: float | None = None) -> RequestRecord:
    return RequestRecord(request_id, "accepted", "s", instance, time.time() if created_at is None else created_at)


def statuses(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as connection:
        return dict(connection.execute("SELECT id, status FROM requests").fetchall())


async def test_concurrent_accepts_are_committed_together_and_each_returns_once_durable(
    store: SQLiteRequests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[int] = []

    def counted(connection: sqlite3.Connection, batch: _Batch) -> None:
        commits.append(len(batch.rows))
        write(connection, batch)

    monkeypatch.setattr(sqlite_store, "_write", counted)
    async with anyio.create_task_group() as tasks:
        for index in range(20):
            tasks.start_soon(store.accept, record(f"r{index}"))
    assert len(statuses(tmp_path / "data" / "hal9.db")) == 20
    assert sum(commits) == 20
    assert len(commits) < 20, commits  # grouped: the first commit holds one, the next the others that waited


async def test_over_max_rows_the_oldest_finished_go_and_running_ones_stay(
    store: SQLiteRequests, tmp_path: Path
) -> None:
    for index in range(8):
        await store.accept(record(f"r{index}"))
    for index in range(6):
        store.finish(record(f"r{index}").finished({"status": "completed"}, at=1000.0 + index))
    await store.flush()
    assert await store.prune() == 3
    assert statuses(tmp_path / "data" / "hal9.db") == {
        "r3": "completed",
        "r4": "completed",
        "r5": "completed",
        "r6": "accepted",
        "r7": "accepted",
    }


async def test_records_past_the_retention_are_deleted(store: SQLiteRequests, tmp_path: Path) -> None:
    await store.accept(record("old", created_at=time.time() - 7200))
    await store.accept(record("new"))
    await store.prune()  # the writer prunes too, every tenth of max_rows accepts: here after each commit
    assert statuses(tmp_path / "data" / "hal9.db") == {"new": "accepted"}


async def test_the_sweep_fails_an_earlier_runs_open_records_interrupted_and_leaves_the_rest(
    store: SQLiteRequests,
) -> None:
    await store.accept(record("crashed", instance="run-0"))
    await store.accept(record("mine", instance="run-1"))
    await store.accept(record("ended", instance="run-0"))
    store.finish(record("ended", instance="run-0").finished({"status": "completed"}, at=time.time()))
    await store.flush()
    assert await store.interrupt_previous("run-1") == 1
    crashed = await store.get("crashed")
    assert crashed is not None
    assert crashed.status == "failed"
    assert crashed.result is not None
    assert [error["error"] for error in crashed.result["errors"]] == [INTERRUPTED]
    mine = await store.get("mine")
    assert mine is not None
    assert mine.status == "accepted"
    ended = await store.get("ended")
    assert ended is not None
    assert ended.status == "completed"
