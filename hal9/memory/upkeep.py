"""Upkeep: the database size kept current off the event loop, and the service's periodic task."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.config import MemoryConfig
from hal9.memory.index import index_folder
from hal9.memory.metrics import MemoryCollector
from hal9.memory.retention import Retention

log = structlog.get_logger("hal9.memory")

#: After a commit, the file sizes are re-read at most this often (the upkeep task reads them too).
STATS_AFTER_WRITE_SECONDS = 1.0


def file_bytes(path: Path) -> int:
    """The size of the database file, its WAL and its search index's folder (blocking: call it in a worker thread)."""
    total = 0
    for file in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += file.stat().st_size
    with contextlib.suppress(FileNotFoundError):
        for file in index_folder(path).iterdir():
            with contextlib.suppress(FileNotFoundError):  # a segment merged away meanwhile
                total += file.stat().st_size
    return total


class FileStats:
    """The collector's ``database_bytes``, re-read in a worker thread so a scrape never touches a file.

    Args:
        path: the database file.
        collector: the service's collector, whose ``database_bytes`` this keeps current.
    """

    def __init__(self, path: Path, collector: MemoryCollector) -> None:
        self.path = path
        self.collector = collector
        self.read_at = 0.0  # monotonic time of the last re-read after a commit

    async def refresh(self) -> None:
        """Re-read the database and WAL file sizes (off the event loop)."""
        self.collector.database_bytes = await anyio.to_thread.run_sync(file_bytes, self.path)

    async def refresh_logged(self) -> None:
        """:meth:`refresh`, logging a failure rather than raising it."""
        try:
            await self.refresh()
        except Exception:  # a failed size read must not take the service's tasks down
            log.exception("memory.stats_failed")

    def after_commit(self, tasks: TaskGroup | None) -> None:
        """The file grew: re-read its size soon (at most once a second), off the loop, in ``tasks``."""
        now = time.monotonic()
        if tasks is not None and now - self.read_at >= STATS_AFTER_WRITE_SECONDS:
            self.read_at = now
            tasks.start_soon(self.refresh_logged)


async def run_upkeep(upkeep: Callable[[], Awaitable[int]], settings: MemoryConfig, retention: Retention) -> None:
    """The service's periodic task: ``upkeep`` every ``stats_interval_seconds`` (or retention interval).

    The first retention run is due one ``retention_interval_seconds`` from now. A failed round
    is logged; the next one runs on time.
    """
    retention.schedule(time.monotonic())
    while True:
        await anyio.sleep(min(settings.stats_interval_seconds, settings.retention_interval_seconds))
        try:
            await upkeep()
        except Exception:
            log.exception("memory.upkeep_failed")
