"""Forgetting entries: one by id, those the retention rule finds old, unused and unimportant, and eviction.

Every delete keeps the service's caches, access bookkeeping, entry counts and search index
coherent with the file (:class:`Forgetting`); :class:`Retention` holds the rule and its
schedule; :func:`eviction_size` says how many entries the caps (``max_entries``,
``max_bytes``) want gone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from hal9.config import MemoryConfig
from hal9.memory.database import MemoryDatabase
from hal9.memory.entry_cache import EntryCache
from hal9.memory.metrics import EntryCounts
from hal9.memory.touches import AccessTouches

FORGET = "DELETE FROM entries WHERE id = ? RETURNING id, neuron_id"
#: The least important entries first, then the longest unused; lessons are never evicted (the
#: learning service forgets its own when it retires them).
EVICT = (
    "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE kind != 'lesson'"
    " ORDER BY importance, last_accessed LIMIT ?) RETURNING id, neuron_id"
)
#: Most entries one eviction statement deletes: the write lock is never held for long.
EVICT_BATCH = 5000
#: Eviction brings the store this far under a cap it passed, so it does not run on every store.
EVICT_HEADROOM = 0.01
_USED_BYTES = (
    "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())"
)
#: The oldest candidates first, at most a batch: a run never holds the write lock for long.
RETENTION_DELETE = (
    "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE created_at < ? AND last_accessed < ?"
    " AND importance < ? ORDER BY created_at LIMIT ?) RETURNING id, neuron_id"
)


class Forgetting:
    """Runs deletes, then drops what they removed from everything that remembers entries.

    Args:
        cache: the entry cache.
        touches: the access bookkeeping not yet written.
        counts: the entries per neuron the collector exposes.
        removed: told the ids deleted (the search index leaves them out from then on).
    """

    def __init__(
        self, cache: EntryCache, touches: AccessTouches, counts: EntryCounts, removed: Callable[[list[int]], None]
    ) -> None:
        self.cache, self.touches, self.counts, self.removed = cache, touches, counts, removed

    async def delete(self, database: MemoryDatabase, sql: str, params: Sequence[Any]) -> int:
        """Run one ``DELETE ... RETURNING id, neuron_id`` (:data:`FORGET`, :data:`RETENTION_DELETE`); how many went."""
        return self.deleted(await database.delete(sql, params))

    def deleted(self, rows: Sequence[tuple[int, str]]) -> int:
        """Entries ``(id, neuron_id)`` were deleted (committed): forget them everywhere; how many."""
        ids = [entry_id for entry_id, _ in rows]
        self.cache.deleted(ids)
        if ids:
            self.removed(ids)
        for entry_id, neuron_id in rows:
            self.touches.discard(entry_id)
            self.counts.add(neuron_id, -1)
        return len(rows)


class Retention:
    """The retention rule and schedule of one memory service (``retention_*`` settings).

    Args:
        settings: the service's settings; only the ``retention_*`` ones are read.
    """

    def __init__(self, settings: MemoryConfig) -> None:
        self.settings = settings
        self.next_run = 0.0  # monotonic time of the next retention run

    def schedule(self, monotonic_now: float) -> None:
        """The next run is one ``retention_interval_seconds`` from ``monotonic_now``."""
        self.next_run = monotonic_now + self.settings.retention_interval_seconds

    def due(self, monotonic_now: float) -> bool:
        """True if a run is due at ``monotonic_now``; the next is then scheduled one interval later."""
        if monotonic_now < self.next_run:
            return False
        self.schedule(monotonic_now)
        return True

    def parameters(self, now: float | None = None) -> tuple[float, float, float, int]:
        """The parameters of :data:`RETENTION_DELETE` for a run at ``now`` (wall-clock; default: now)."""
        settings = self.settings
        cutoff = (time.time() if now is None else now) - settings.retention_max_age_seconds
        return (cutoff, cutoff, settings.retention_min_importance, settings.retention_batch)


def eviction_size(entries: int, used_bytes: int, settings: MemoryConfig) -> int:
    """How many entries to evict to bring ``entries`` and ``used_bytes`` under the caps, with headroom.

    Bytes are converted to entries at the store's average size per entry.
    """
    wanted = 0
    if entries > settings.max_entries:
        wanted = entries - math.floor(settings.max_entries * (1 - EVICT_HEADROOM))
    if used_bytes > settings.max_bytes and entries > 0:
        excess = used_bytes - settings.max_bytes * (1 - EVICT_HEADROOM)
        wanted = max(wanted, math.ceil(excess / (used_bytes / entries)))
    return min(wanted, entries)


async def used_bytes(database: MemoryDatabase) -> int:
    """Bytes of the database file in use (pages not on the free list): what ``max_bytes`` bounds."""
    rows = await database.read.execute_fetchall(_USED_BYTES)
    pages = int(next(iter(rows))[0])
    ((size,),) = await database.read.execute_fetchall("PRAGMA page_size")
    return pages * int(size)
