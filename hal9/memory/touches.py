"""Access bookkeeping: reads count their entries' accesses in memory; the counts are written in batches.

A read never writes: :meth:`AccessTouches.touch` only updates a bounded dict, and the counts
reach the file with the next group commit, upkeep round, retention run or stop.
"""

from __future__ import annotations

import time

import aiosqlite
import anyio

from hal9.memory.database import transaction

#: Access bookkeeping waiting to be written; beyond it, further accesses are not recorded until a flush.
MAX_PENDING_TOUCHES = 10_000

UPDATE_ACCESS = "UPDATE entries SET access_count = access_count + ?, last_accessed = max(last_accessed, ?) WHERE id = ?"


class AccessTouches:
    """Accesses not yet written: per entry id, how many and when the last was."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[int, float]] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def touch(self, entry_id: int) -> None:
        """Count one access to ``entry_id`` now (dropped while :data:`MAX_PENDING_TOUCHES` wait)."""
        pending = self._pending.get(entry_id)
        if pending is not None:
            self._pending[entry_id] = (pending[0] + 1, time.time())
        elif len(self._pending) < MAX_PENDING_TOUCHES:
            self._pending[entry_id] = (1, time.time())

    def discard(self, entry_id: int) -> None:
        """Forget the accesses of a deleted entry."""
        self._pending.pop(entry_id, None)

    def take(self) -> list[tuple[int, float, int]]:
        """The pending accesses as :data:`UPDATE_ACCESS` parameters; none are pending after."""
        touched, self._pending = self._pending, {}
        return [(count, at, entry_id) for entry_id, (count, at) in touched.items()]

    async def flush(self, connection: aiosqlite.Connection, lock: anyio.Lock) -> None:
        """Write the pending accesses in one transaction on ``connection``, holding the write ``lock``."""
        if not self._pending:
            return
        async with lock:
            touches = self.take()
            async with transaction(connection):
                await connection.executemany(UPDATE_ACCESS, touches)
