"""Entries by id, read through an LRU cache that deletes keep coherent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

import aiosqlite
from prometheus_client import Counter

from hal9.memory.cache import LRUCache
from hal9.memory.reads import BY_ID, BY_IDS, entry_from_row
from hal9.memory.touches import AccessTouches
from hal9.runtime.memory import MemoryEntry


class EntryCache:
    """The memory service's LRU cache of entries: a miss reads the entry, a delete drops it.

    Every entry read (from the cache or not) counts an access in ``touches``.

    Args:
        capacity: entries held (0 disables the cache).
        touches: the service's access bookkeeping.
    """

    #: Counted by :meth:`get`; bound by :meth:`count_with` before the first read.
    hits: Counter
    misses: Counter

    def __init__(self, capacity: int, touches: AccessTouches) -> None:
        self.entries: LRUCache[int, MemoryEntry] = LRUCache(capacity)
        self.touches = touches
        # Bumped by every delete: a read that raced a delete does not put its entry in the cache.
        self.generation = 0

    def count_with(self, hits: Counter, misses: Counter) -> None:
        """Count cache hits and misses in these counters."""
        self.hits, self.misses = hits, misses

    async def get(self, reader: aiosqlite.Connection, entry_id: int) -> MemoryEntry | None:
        """The entry with this id or None: from the cache, else read with ``reader`` and cached."""
        cached = self.entries.get(entry_id)
        if cached is not None:
            self.hits.inc()
            self.touches.touch(entry_id)
            return cached
        self.misses.inc()
        generation = self.generation
        rows = await reader.execute_fetchall(BY_ID, (entry_id,))
        if not rows:
            return None
        entry = entry_from_row(next(iter(rows)))
        if generation == self.generation:
            self.entries.put(entry_id, entry)
        self.touches.touch(entry_id)
        return entry

    async def many(self, reader: aiosqlite.Connection, entry_ids: list[int]) -> dict[int, MemoryEntry]:
        """The entries with these ids that exist, by id: from the cache, the others read in one statement.

        A search's read-back: no access or hit is counted, and what was read is cached (a
        request's recall returns many of the entries the one before it did).
        """
        found, missing = self._cached(entry_ids)
        if missing:
            generation = self.generation
            rows = await reader.execute_fetchall(BY_IDS, (json.dumps(missing),))
            self._adopt(found, rows, generation)
        return found

    def many_now(self, reader: sqlite3.Connection, entry_ids: list[int]) -> dict[int, MemoryEntry]:
        """:meth:`many`, read on the calling thread: for the few rows of a small search, by primary key.

        A point read of a page of rows costs microseconds, less than the thread hop that
        :meth:`many` takes to run it (see :mod:`hal9.memory.reads`).
        """
        found, missing = self._cached(entry_ids)
        if missing:
            self._adopt(found, reader.execute(BY_IDS, (json.dumps(missing),)).fetchall(), self.generation)
        return found

    def _cached(self, entry_ids: list[int]) -> tuple[dict[int, MemoryEntry], list[int]]:
        """The entries the cache holds, by id, and the ids it lacks."""
        found: dict[int, MemoryEntry] = {}
        for entry_id in entry_ids:
            cached = self.entries.get(entry_id)
            if cached is not None:
                found[entry_id] = cached
        return found, [entry_id for entry_id in entry_ids if entry_id not in found]

    def _adopt(self, found: dict[int, MemoryEntry], rows: Iterable[Any], generation: int) -> None:
        for row in rows:
            entry = found[row[0]] = entry_from_row(row)
            if generation == self.generation:
                self.entries.put(entry.id, entry)

    def deleted(self, entry_ids: list[int]) -> None:
        """Entries were deleted: drop them, and keep a read that raced the delete from caching its entry."""
        if entry_ids:
            self.generation += 1
        for entry_id in entry_ids:
            self.entries.discard(entry_id)
