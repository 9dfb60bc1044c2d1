"""The memory service's SQLite file, open: its write connection (under a lock) and its read connection."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite
import anyio
import anyio.to_thread

from hal9.memory.schema import migrate
from hal9.support.private_files import prepare_database

#: Reads map the file (up to this much) rather than copy pages into a private cache: a search
#: touches doclist pages all over a large index, and each copy was a system call.
READ_MMAP_BYTES = 1 << 30


class MemoryDatabase:
    """The connections to one file: one writes, two only read, so a search never waits for a commit.

    :attr:`read` serves searches and reads; :attr:`feed` is the search index feeder's, so its
    reads of new entries never queue behind (or hold up) a search.

    Every write transaction on :attr:`write` holds :attr:`lock` (the group-commit writer's,
    forget's, retention's, the access counts').

    Attributes:
        counts: entries per neuron id when the file was opened.
        max_id: the highest entry id when the file was opened (0 when there were none).
    """

    def __init__(
        self,
        write: aiosqlite.Connection,
        read: aiosqlite.Connection,
        feed: aiosqlite.Connection,
        counts: dict[str, int],
        max_id: int,
        point: sqlite3.Connection,
    ) -> None:
        self.write, self.read, self.feed = write, read, feed
        #: Query-only, used on the event loop itself for the point reads of small searches.
        self.point = point
        self.lock = anyio.Lock()
        self.counts, self.max_id = counts, max_id

    @classmethod
    async def open(cls, path: Path, synchronous: str) -> Self:
        """Open the file (it is created, mode 0600), migrate it and count its entries.

        Both connections are in autocommit mode and the file in WAL mode; the read connection
        is query-only. If anything fails, nothing is left open. The file is prepared first
        (:func:`~hal9.support.private_files.prepare_database`): its folder must not be writable
        by others, and SQLite then gives the WAL files the database's private mode.

        Args:
            path: the database file.
            synchronous: the write connection's ``PRAGMA synchronous`` (``full`` or ``normal``).
        """
        await anyio.to_thread.run_sync(prepare_database, path)
        write = await aiosqlite.connect(path, isolation_level=None)
        try:
            await write.execute("PRAGMA journal_mode = WAL")
            await write.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            await write.execute("PRAGMA busy_timeout = 5000")
            await migrate(write)
            read = await open_reader(path)
        except BaseException:
            await write.close()
            raise
        try:
            feed = await open_reader(path)
        except BaseException:
            await read.close()
            await write.close()
            raise
        try:
            counts = await read.execute_fetchall("SELECT neuron_id, count(*) FROM entries GROUP BY neuron_id")
            (highest,) = await read.execute_fetchall("SELECT coalesce(max(id), 0) FROM entries")
        except BaseException:
            await feed.close()
            await read.close()
            await write.close()
            raise
        try:
            point = await anyio.to_thread.run_sync(open_point_reader, path)
        except BaseException:
            await feed.close()
            await read.close()
            await write.close()
            raise
        by_neuron = {str(neuron_id): int(count) for neuron_id, count in counts}
        return cls(write, read, feed, by_neuron, int(highest[0]), point)

    async def delete(self, sql: str, params: Sequence[Any]) -> list[tuple[int, str]]:
        """Run one ``DELETE ... RETURNING id, neuron_id`` under the lock; the rows it deleted."""
        async with self.lock:
            # One statement in autocommit mode: atomic on its own.
            rows = await self.write.execute_fetchall(sql, params)
        return [(entry_id, neuron_id) for entry_id, neuron_id in rows]

    async def close(self) -> None:
        """Close the connections."""
        try:
            self.point.close()
            await self.feed.close()
            await self.read.close()
        finally:
            await self.write.close()


def open_point_reader(path: Path) -> sqlite3.Connection:
    """A query-only connection that maps the file, for the event loop's own point reads."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("PRAGMA query_only = ON")
        connection.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
    except BaseException:
        connection.close()
        raise
    return connection


async def open_reader(path: Path) -> aiosqlite.Connection:
    """A query-only connection that maps the file."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        await connection.execute("PRAGMA busy_timeout = 5000")
        await connection.execute("PRAGMA query_only = ON")
        await connection.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
    except BaseException:
        await connection.close()
        raise
    return connection


@asynccontextmanager
async def transaction(connection: aiosqlite.Connection) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection; rolled back (shielded) if the block fails."""
    # Shielded: a cancel while BEGIN runs on aiosqlite's thread would leave the transaction open,
    # and every later statement on the connection inside it, never committed.
    with anyio.CancelScope(shield=True):
        await connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        await connection.execute("COMMIT")
    except BaseException:
        with anyio.CancelScope(shield=True):
            await connection.rollback()
        raise
