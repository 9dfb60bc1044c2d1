"""Keeping the search index caught up with the store: a watermark, a journal of deletes, one feeding task.

SQLite is the store of record; the index (:mod:`hal9.memory.index`) is derived from it:

- Entry ids only grow, so "every entry up to id W is indexed" is one number, the watermark,
  kept in SQLite (``search_index.watermark``). The feeder reads the entries above it from
  SQLite, adds them to the index, commits the index, and only then moves the watermark. After
  a crash, whatever is above the watermark is indexed again; an entry the index already held
  is replaced, not doubled.
- Every delete, whoever runs it, is journaled by a trigger (``search_index_deletes``) in the
  delete's own transaction; the feeder applies the journal to the index and then clears it.
  Until then a search leaves those ids out, so it never returns an entry the store no longer has.

The index is refreshed (committed) when entries or deletes wait: at once after a quiet spell,
then at most once per ``index_refresh_seconds`` (each refresh writes a segment), and at once
whenever a search asks for a fresh view or much is waiting.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial

import aiosqlite
import anyio
import anyio.to_thread
import structlog
from anyio.abc import TaskStatus

from hal9.memory.database import MemoryDatabase, transaction
from hal9.memory.index import IndexedEntry, SearchIndex

log = structlog.get_logger("hal9.memory")

#: Most entries one refresh reads from SQLite and adds (a larger backlog takes several).
CHUNK = 5000
#: Waiting entries, or deletes, past which the index is refreshed at once rather than on schedule.
URGENT_BACKLOG = 2000
#: After a failed refresh, the next try waits this long.
RETRY_SECONDS = 1.0
#: A search that asks for a fresh view waits at most this long for it, then searches the index as it is.
FRESH_WAIT_SECONDS = 5.0

_AFTER = "SELECT id, neuron_id, kind, content, created_at FROM entries WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
_STATE = "SELECT identity, watermark FROM search_index WHERE id = 1"
_JOURNAL = "SELECT id FROM search_index_deletes"
_MARK = "UPDATE search_index SET watermark = ? WHERE id = 1"
_CLEAR_JOURNAL = "DELETE FROM search_index_deletes WHERE id IN (SELECT value FROM json_each(?))"


async def index_state(connection: aiosqlite.Connection) -> tuple[str, int]:
    """The database's identity and the search index's watermark, as SQLite records them."""
    ((identity, watermark),) = await connection.execute_fetchall(_STATE)
    return str(identity), int(watermark)


class IndexFeeder:
    """The task that adds stored entries to the index and applies deletes to it.

    Args:
        index: the search index.
        database: the store (its write connection moves the watermark, under its lock).
        reader: a connection the feeder alone reads entries with.
        watermark: the highest id known to be indexed.
        stored: the highest id stored.
        refresh_seconds: how long waiting entries wait for the index's refresh (0: at once).
    """

    def __init__(
        self,
        index: SearchIndex,
        database: MemoryDatabase,
        reader: aiosqlite.Connection,
        *,
        watermark: int,
        stored: int,
        refresh_seconds: float,
    ) -> None:
        self.index = index
        self._database = database
        self._reader = reader
        self.indexed = watermark
        self.stored = stored
        self._refresh_seconds = refresh_seconds
        #: The index may hold entries above the watermark (a crash between the index's commit and
        #: the watermark's, a failed refresh, a store restored from an older copy): the next refresh
        #: deletes them before adding, so nothing is held twice.
        self._stale_above = True
        #: One refresh or rebuild at a time: they share the index's writer and the watermark.
        self._busy = anyio.Lock()
        #: Ids deleted from the store and not yet from the index: searches leave them out.
        self.deleted: set[int] = set()
        self._wake = anyio.Event()
        self._urgent = anyio.Event()
        self._progress = anyio.Event()
        self.failures = 0

    async def load_journal(self) -> None:
        """Take up the journaled deletes not yet applied (a crash, or another program, left them)."""
        rows = await self._reader.execute_fetchall(_JOURNAL)
        self.deleted.update(int(entry_id) for (entry_id,) in rows)

    @property
    def behind(self) -> bool:
        """Entries or deletes wait for the index."""
        return self.indexed < self.stored or bool(self.deleted)

    # -- what the service reports -----------------------------------------------------------

    def added(self, highest_id: int) -> None:
        """Entries up to ``highest_id`` are committed to the store."""
        self.stored = max(self.stored, highest_id)
        self._wake.set()
        if self.stored - self.indexed >= URGENT_BACKLOG:
            self._urgent.set()

    def removed(self, entry_ids: list[int]) -> None:
        """These entries were deleted from the store."""
        self.deleted.update(entry_ids)
        self._wake.set()
        if len(self.deleted) >= URGENT_BACKLOG:
            self._urgent.set()

    async def fresh(self, up_to: int) -> None:
        """Wait until every entry up to ``up_to`` is searchable (at most :data:`FRESH_WAIT_SECONDS`)."""
        if self.indexed >= up_to:
            return
        self._wake.set()
        self._urgent.set()
        with anyio.move_on_after(FRESH_WAIT_SECONDS) as waited:
            while self.indexed < up_to:
                await self._progress.wait()
        if waited.cancelled_caught:
            log.warning("memory.index_behind", indexed=self.indexed, wanted=up_to, failures=self.failures)

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until nothing waits for the index: every stored entry in it, every delete applied.

        Raises:
            TimeoutError: still behind after ``timeout`` seconds (the index keeps failing).
        """
        with anyio.fail_after(timeout):
            while self.behind:
                self._wake.set()
                self._urgent.set()
                await self._progress.wait()

    # -- the task -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Refresh the index whenever entries or deletes wait, on schedule or at once when urgent."""
        task_status.started()
        last = -math.inf
        while True:
            await self._wake.wait()
            # At most one scheduled refresh per interval: the first after a quiet spell runs at once.
            delay = last + self._refresh_seconds - time.monotonic()
            if delay > 0:
                with anyio.move_on_after(delay):
                    await self._urgent.wait()
            self._wake = anyio.Event()
            self._urgent = anyio.Event()
            # What waited when the round began (a backlog takes several chunks); what arrives
            # meanwhile has set the wake-up again and waits for the next interval.
            target = self.stored
            while self.behind:
                if not await self._refresh_logged():
                    await anyio.sleep(RETRY_SECONDS)
                elif self.indexed >= target:
                    break
            last = time.monotonic()

    async def catch_up(self) -> int:
        """Refresh until nothing waits (at start, before searches); how many entries were added."""
        added = 0
        while self.behind:
            added += await self.refresh()
        return added

    async def _refresh_logged(self) -> bool:
        try:
            await self.refresh()
        except Exception:
            self.failures += 1
            self._stale_above = True  # the index may have committed what the watermark does not say
            log.exception("memory.index_refresh_failed", indexed=self.indexed, stored=self.stored)
            return False
        return True

    async def refresh(self) -> int:
        """One round: read up to :data:`CHUNK` entries above the watermark, apply them and the deletes, commit.

        Returns how many entries were added.
        """
        async with self._busy:
            return await self._refresh()

    async def _refresh(self) -> int:
        target = self.stored
        journal = await self._reader.execute_fetchall(_JOURNAL)  # deletes by other programs too
        self.deleted.update(int(entry_id) for (entry_id,) in journal)
        deleted = set(self.deleted)
        rows = await self._reader.execute_fetchall(_AFTER, (self.indexed, target, CHUNK))
        entries = list(map(IndexedEntry._make, rows))
        mark = entries[-1].id if len(entries) == CHUNK else target
        above = self.indexed if self._stale_above else None
        await anyio.to_thread.run_sync(partial(self.index.apply, entries, deleted, above=above))
        self._stale_above = False
        await self._mark(mark, deleted)
        self.indexed = max(self.indexed, mark)
        self.deleted -= deleted
        progress, self._progress = self._progress, anyio.Event()
        progress.set()
        return len(entries)

    async def _mark(self, watermark: int, deleted: set[int]) -> None:
        """Record in the store that the index holds every entry up to ``watermark`` and lacks ``deleted``."""
        database = self._database
        async with database.lock, transaction(database.write):
            await database.write.execute(_MARK, (watermark,))
            if deleted:
                await database.write.execute(_CLEAR_JOURNAL, (json.dumps(sorted(deleted)),))

    async def forget_watermark(self) -> None:
        """Record that the index holds nothing (it was created empty)."""
        async with self._busy:
            await self._mark(0, set())
            self.indexed = 0

    async def rebuild(self) -> int:
        """Empty the index and add every stored entry again; how many were added."""
        async with self._busy:
            # The watermark goes to 0 before the index is emptied: a crash in between leaves an
            # index that the next start tops up (replacing what it holds), never an empty one trusted.
            self._stale_above = True
            await self._mark(0, set())
            self.indexed = 0
            await anyio.to_thread.run_sync(self.index.clear)
        started = time.monotonic()
        added = await self.catch_up()
        log.info("memory.reindexed", entries=added, seconds=round(time.monotonic() - started, 3))
        return added
