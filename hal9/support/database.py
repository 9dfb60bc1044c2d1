"""One SQLite file used through the standard library's sqlite3 on a worker thread.

For the runtime's small tables in ``data_dir/hal9.db`` (the LLM spend ledger, the auth
tables): each call runs in a worker thread (``anyio.to_thread``) through a limiter of one,
so the event loop never waits on the disk and each call is atomic with respect to the
others. WAL mode, so a reader elsewhere never blocks a write here. (The memory service,
with its group commits and full-text search, has a connection of its own.) The file and
its WAL files are private to the user (:mod:`hal9.support.private_files`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from hal9.support.private_files import prepare_database

T = TypeVar("T")


class Database:
    """A SQLite file opened with :meth:`open` and closed with :meth:`close`.

    Args:
        path: the SQLite file; its folder is created (mode 0700) if missing, the file with mode 0600.
        not_open: the error a call made before :meth:`open` (or after :meth:`close`) raises.
        busy_timeout: seconds a call waits for another process's write lock.
    """

    def __init__(self, path: Path, *, not_open: Callable[[], Exception], busy_timeout: float = 10.0) -> None:
        self.path = path
        self._not_open = not_open
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        # One call at a time, from whichever worker thread runs it.
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def is_open(self) -> bool:
        return self._connection is not None

    async def open(self, setup: Callable[[sqlite3.Connection], None]) -> None:
        """Connect, switch to WAL and run ``setup`` (the schema) in the worker thread.

        Raises:
            ConfigError: the folder or the file is not private (:func:`~hal9.support.private_files.prepare_database`).
            Whatever ``setup`` raises (the connection is closed then).
        """

        def connect() -> sqlite3.Connection:
            prepare_database(self.path)
            connection = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=self._busy_timeout
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                setup(connection)
            except BaseException:
                connection.close()
                raise
            return connection

        self._connection = await anyio.to_thread.run_sync(connect, limiter=self._limiter)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Shielded: a cancelled stop still releases the file.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(connection.close, limiter=self._limiter)

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with the connection in the worker thread and return what it returns."""
        connection = self._connection
        if connection is None:
            raise self._not_open()
        return await anyio.to_thread.run_sync(work, connection, limiter=self._limiter)
