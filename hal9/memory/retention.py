"""Forgetting entries: one by id, or those the retention rule finds old, unused and unimportant.

Every delete keeps the service's caches, access bookkeeping and entry counts coherent with
the file (:class:`Forgetting`); :class:`Retention` holds the rule and its schedule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hal9.config import MemoryConfig
from hal9.memory.database import MemoryDatabase
from hal9.memory.entry_cache import EntryCache
from hal9.memory.metrics import EntryCounts
from hal9.memory.plan import ProbeCache
from hal9.memory.touches import AccessTouches

FORGET = "DELETE FROM entries WHERE id = ? RETURNING id, neuron_id"
#: The oldest candidates first, at most a batch: a run never holds the write lock for long.
RETENTION_DELETE = (
    "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE created_at < ? AND last_accessed < ?"
    " AND importance < ? ORDER BY created_at LIMIT ?) RETURNING id, neuron_id"
)


class Forgetting:
    """Runs deletes, then drops what they removed from everything that remembers entries.

    Args:
        cache: the entry cache.
        probes: the search's probe cache (its frequencies no longer hold after a delete).
        touches: the access bookkeeping not yet written.
        counts: the entries per neuron the collector exposes.
    """

    def __init__(self, cache: EntryCache, probes: ProbeCache, touches: AccessTouches, counts: EntryCounts) -> None:
        self.cache, self.probes, self.touches, self.counts = cache, probes, touches, counts

    async def delete(self, database: MemoryDatabase, sql: str, params: Sequence[Any]) -> int:
        """Run one ``DELETE ... RETURNING id, neuron_id`` (:data:`FORGET`, :data:`RETENTION_DELETE`); how many went."""
        rows = await database.delete(sql, params)
        self.cache.deleted([entry_id for entry_id, _ in rows])
        if rows:
            self.probes.clear()
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
