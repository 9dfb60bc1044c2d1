"""``SQLiteMemory``: the embedded memory service, one SQLite file in WAL mode and a search index derived from it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import aiosqlite
import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.config import MemoryConfig
from hal9.errors import MemoryNotRunning
from hal9.memory.database import READ_MMAP_BYTES as READ_MMAP_BYTES
from hal9.memory.database import MemoryDatabase
from hal9.memory.entry_cache import EntryCache
from hal9.memory.feeder import IndexFeeder, index_state
from hal9.memory.index import Filters, SearchIndex, index_folder
from hal9.memory.metrics import EntryCounts, MemoryCollector
from hal9.memory.reads import MAX_SEARCH_LIMIT, RECENT, entry_from_row, search_entries
from hal9.memory.recall import SharedRecall
from hal9.memory.retention import (
    EVICT,
    EVICT_BATCH,
    FORGET,
    RETENTION_DELETE,
    Forgetting,
    Retention,
    eviction_size,
    used_bytes,
)
from hal9.memory.rows import entry_row
from hal9.memory.touches import AccessTouches
from hal9.memory.upkeep import FileStats, run_upkeep
from hal9.memory.writer import GroupCommitWriter, WriteRequest
from hal9.metrics import MEMORY_BUCKETS
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.memory import MemoryEntry, MemoryKind, MemoryRecord
from hal9.runtime.service import OperationMetrics, Service
from hal9.support.background import service_tasks

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.memory.replication import MemoryReplication
    from hal9.runtime.runtime import Runtime
    from hal9.runtime.trace import TraceResult

log = structlog.get_logger("hal9.memory")

MEMORY_OPERATIONS = OperationMetrics(fam.MEMORY_OPERATIONS, fam.MEMORY_DURATION, MEMORY_BUCKETS)
DATABASE_FILE = "hal9.db"
#: A request's recall leaves out the words more than this share of the entries hold: in a store of
#: similar requests they match nearly everything, weigh little in BM25 and cost the most to rank.
RECALL_COMMON_SHARE = 0.25
#: Searches running at once in worker threads (tantivy releases the GIL while it ranks).
SEARCH_THREADS = 4
#: Most delete statements one eviction runs; each re-measures what is left to evict.
EVICT_ROUNDS = 64
MAX_ID = 2**63 - 1  # SQLite's integer range: a larger id cannot exist (and cannot be bound)


class SQLiteMemory(Service):
    """Memory in one SQLite file: group-committed stores, exact BM25 search, an LRU cache, bounded size.

    Use it as a runtime service (``services = {memory = "hal9.memory:SQLiteMemory"}``; the
    runtime starts and stops it) or on its own: ``async with SQLiteMemory(path) as memory:``.

    SQLite is the store of record: one connection writes (the group-commit writer, forget,
    retention, eviction), the others read, so a search never waits for a commit. The search
    index (tantivy, in the folder ``<file>.index``) is derived from it and caught up after a
    crash (:mod:`hal9.memory.feeder`); ``hal9 memory reindex`` rebuilds it.

    asyncio only: aiosqlite runs its connections with asyncio futures, so on Trio the service
    refuses to start (a runtime on Trio takes another memory service, or none).

    Args:
        path: the database file; its folder is created. None: a file in a private temporary
            folder, removed when the service stops (what a configuration without ``data_dir`` gives).
        settings: cache, batching, durability and retention settings.
    """

    name = "memory"
    operation_metrics = MEMORY_OPERATIONS

    def __init__(self, path: str | os.PathLike[str] | None, settings: MemoryConfig | None = None) -> None:
        self._temporary = path is None
        self.path = Path(path) if path is not None else Path(DATABASE_FILE)  # set when it starts
        self.settings = settings if settings is not None else MemoryConfig()
        self.entry_counts = EntryCounts()
        self._collector = MemoryCollector(self.entry_counts)
        self._touches = AccessTouches()
        self._cache = EntryCache(self.settings.cache_size, self._touches)
        self._stats = FileStats(self.path, self._collector)
        self._retention = Retention(self.settings)
        self._forgetting = Forgetting(self._cache, self._touches, self.entry_counts, self._removed)
        self._max_id = 0  # the highest id stored
        self._recalls = SharedRecall(
            lambda query, limit: self._search(
                query, Filters(), limit, "any", fresh=False, common_share=RECALL_COMMON_SHARE
            )
        )
        self._search_threads = anyio.CapacityLimiter(SEARCH_THREADS)
        self._index: SearchIndex | None = None
        self._feeder: IndexFeeder | None = None
        self._evict_wake = anyio.Event()
        self._evicting = anyio.Lock()
        self._evicted = anyio.Event()  # set after each background eviction round (tests await it)
        self._writer: GroupCommitWriter | None = None
        self._database: MemoryDatabase | None = None
        self._tasks: TaskGroup | None = None
        #: In a cluster with shared state: publishes this server's entries, imports the others'.
        self.replication: MemoryReplication | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(config.data_dir / DATABASE_FILE if config.data_dir is not None else None, config.memory)

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._cache.count_with(
            metrics.counter(fam.MEMORY_CACHE_HITS.name, fam.MEMORY_CACHE_HITS.help),
            metrics.counter(fam.MEMORY_CACHE_MISSES.name, fam.MEMORY_CACHE_MISSES.help),
        )
        metrics.register(self._collector)
        for operation in ("store", "retrieve", "search"):
            self.measure(operation=operation)  # the series exist at zero from the start

    def on_attached(self, runtime: Runtime) -> None:
        if runtime.config.network.shared:
            # Imported here: cluster mode needs nats-py, which a single server may not have.
            from hal9.memory.replication import MemoryReplication, cluster_state

            state = cluster_state(runtime)
            if state is not None:
                self.replication = MemoryReplication(state, self.settings)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._writer is not None

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Open (creating the folder and file if needed), migrate, catch the search index up, run the tasks.

        The tasks: the group-commit writer, the search index's feeder, upkeep and eviction. On
        exit: commit what is queued, stop the tasks, write pending access counts and close.

        Raises:
            RuntimeError: not on asyncio (aiosqlite needs an asyncio event loop; Trio has none).
            MemoryIndexBusy: another process uses the same memory database.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "SQLiteMemory runs on asyncio only (aiosqlite): on another backend, give the runtime "
                "a memory service of your own, or none (services without 'memory')"
            ) from None
        async with self._temporary_folder(), self._open():
            yield self

    @asynccontextmanager
    async def _temporary_folder(self) -> AsyncIterator[None]:
        """Without a path, the file lives in a private temporary folder for as long as the service runs."""
        if not self._temporary:
            yield
            return
        folder = Path(await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="hal9-memory-")))
        self.path = folder / DATABASE_FILE
        self._stats = FileStats(self.path, self._collector)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        await anyio.to_thread.run_sync(lambda: self.path.parent.mkdir(parents=True, exist_ok=True))
        database = self._database = await MemoryDatabase.open(self.path, self.settings.synchronous)
        try:
            feeder = await self._open_index(database)
            self.entry_counts.reset(database.counts)
            self._max_id = database.max_id
            writer = GroupCommitWriter(
                database.write,
                database.lock,
                batch_size=self.settings.batch_size,
                queue_size=self.settings.queue_size,
                on_commit=self._committed,
                take_touches=self._touches.take,
            )
            async with service_tasks() as tasks:
                await tasks.start(writer.run)
                await tasks.start(feeder.run)
                tasks.start_soon(run_upkeep, self.upkeep, self.settings, self._retention)
                tasks.start_soon(self._run_eviction)
                if self.replication is not None:
                    identity, _ = await index_state(database.read)
                    await tasks.start(
                        self.replication.run, database, self.path, writer.submit, self._forgetting, identity
                    )
                self._tasks, self._writer = tasks, writer
                try:
                    await self.refresh_stats()
                    log.info("memory.started", path=str(self.path), entries=self.entry_counts.total)
                    yield
                finally:
                    self._writer = None
                    with anyio.CancelScope(shield=True):
                        await writer.close()
                        await writer.stopped.wait()
                    self._tasks = None
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_connections()

    async def _open_index(self, database: MemoryDatabase) -> IndexFeeder:
        """Open the search index and catch it up with the store (a full build if it is new)."""
        identity, watermark = await index_state(database.read)
        folder = index_folder(self.path)
        index = self._index = await anyio.to_thread.run_sync(SearchIndex, folder, identity)
        feeder = self._feeder = IndexFeeder(
            index,
            database,
            database.feed,
            watermark=0 if index.created else watermark,
            stored=database.max_id,
            refresh_seconds=self.settings.index_refresh_seconds,
        )
        if index.created:
            # The store forgets what an earlier index held before the new one is trusted: a crash
            # before the marker is written leaves an index the next start wipes and builds again.
            await feeder.forget_watermark()
            await anyio.to_thread.run_sync(index.adopt)
        await feeder.load_journal()
        if feeder.behind:
            log.info("memory.indexing", path=str(folder), entries_above=database.max_id - watermark)
            added = await feeder.catch_up()
            log.info("memory.indexed", entries=added)
        return feeder

    async def _close_connections(self) -> None:
        database, self._database = self._database, None
        index, self._index = self._index, None
        self._feeder = None
        try:
            if database is not None:
                try:
                    await self._touches.flush(database.write, database.lock)
                finally:
                    await database.close()
        finally:
            if index is not None:
                await anyio.to_thread.run_sync(index.close)
        log.info("memory.stopped")

    # -- store ----------------------------------------------------------------------------

    async def store(
        self,
        content: str,
        *,
        neuron_id: str,
        kind: MemoryKind = "signal",
        layer: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float = 0.5,
    ) -> int:
        """Store one entry; returns its id once the transaction that wrote it has committed.

        Raises:
            InvalidMemoryEntry: empty or oversized content or metadata, unknown kind, importance outside 0..1.
            MemoryNotRunning: the service is not started, or is stopping.
        """
        record = MemoryRecord(content, neuron_id, kind, layer, metadata or {}, importance)
        (entry_id,) = await self.store_many((record,))
        return entry_id

    async def store_many(self, records: Sequence[MemoryRecord]) -> list[int]:
        """Store entries in one transaction; their ids in order, once committed."""
        async with self.measure(operation="store"):
            if not records:
                return []
            now = time.time()
            limit = self.settings.max_content_chars
            request = WriteRequest([entry_row(record, now, limit) for record in records])
            writer = self._writer
            if writer is None:
                raise MemoryNotRunning("the memory service is not running")
            try:
                await writer.submit(request)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                raise MemoryNotRunning("the memory service is stopping") from None
            await request.done.wait()
            if request.error is not None:
                raise request.error
            return request.ids

    def _committed(self, requests: Sequence[WriteRequest]) -> None:
        self._max_id = max(self._max_id, max(request.ids[-1] for request in requests))
        self._stats.after_commit(self._tasks)
        for request in requests:
            for row in request.rows:
                self.entry_counts.add(row[0], 1)
        if self._feeder is not None:
            self._feeder.added(self._max_id)
        if self.replication is not None:
            self.replication.stored(requests)
        if self.entry_counts.total > self.settings.max_entries:
            self._evict_wake.set()

    def _removed(self, entry_ids: list[int]) -> None:
        if self._feeder is not None:
            self._feeder.removed(entry_ids)

    # -- read -----------------------------------------------------------------------------

    @property
    def _read_connection(self) -> aiosqlite.Connection | None:
        """The read connection while the file is open (a test spies on its queries)."""
        return self._database.read if self._database is not None else None

    def _reader(self) -> aiosqlite.Connection:
        if self._database is None or self._writer is None:
            raise MemoryNotRunning("the memory service is not running")
        return self._database.read

    async def retrieve(self, entry_id: int) -> MemoryEntry | None:
        """The entry with this id or None; answered from the LRU cache when it holds the entry."""
        async with self.measure(operation="retrieve"):
            reader = self._reader()
            if not 0 < entry_id <= MAX_ID:
                return None
            return await self._cache.get(reader, entry_id)

    async def recent(self, neuron_id: str, limit: int = 10) -> list[MemoryEntry]:
        """A neuron's newest entries, newest first (measured as a retrieve)."""
        async with self.measure(operation="retrieve"):
            reader = self._reader()
            limit = max(0, min(int(limit), MAX_SEARCH_LIMIT))
            rows = await reader.execute_fetchall(RECENT, (neuron_id, limit))
            return [entry_from_row(row) for row in rows]

    async def search(
        self,
        query: str,
        *,
        neuron_id: str | None = None,
        kind: MemoryKind | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10,
        match: Literal["all", "any"] = "all",
        fresh: bool = True,
    ) -> list[MemoryEntry]:
        """Full-text search: the exact BM25 top ``limit``, highest score first; any string is a valid query.

        The query's words become terms (see :mod:`hal9.memory.query`): operators, field names,
        quotes and brackets in it are plain text, never syntax. ``deploy*`` is a prefix (it
        stands for the first 64 words that begin with it, each scored as a word of the query),
        and words in double quotes a phrase. With ``match="all"`` an entry holds every term,
        with ``"any"`` at least one. A query with no words finds nothing.

        Scores are Lucene's BM25 (k1 1.2, b 0.75), higher is better; the filters restrict
        which entries match without changing scores. Within the page, ties are ordered by id.
        As in Lucene, the statistics BM25 uses (entries, entries holding a word, average
        length) count deleted entries until the index merges their segments away.

        Args:
            fresh: see every entry stored before the call (waiting, if need be, for the index
                to take them in); False searches the index as it is, which may lack the entries
                of the last ``index_refresh_seconds``.
        """
        return await self._search(query, Filters(neuron_id, kind, since, until), limit, match, fresh=fresh)

    async def _search(
        self,
        query: str,
        filters: Filters,
        limit: int,
        match: Literal["all", "any"],
        *,
        fresh: bool,
        common_share: float | None = None,
    ) -> list[MemoryEntry]:
        async with self.measure(operation="search"):
            reader = self._reader()
            index, feeder = self._index, self._feeder
            if index is None or feeder is None:
                raise MemoryNotRunning("the memory service is not running")
            if fresh:
                await feeder.fresh(self._max_id)
            return await search_entries(
                reader,
                index,
                query,
                filters=filters,
                limit=limit,
                match=match,
                excluded=feeder.deleted,
                limiter=self._search_threads,
                cache=self._cache,
                point_reader=self._database.point if self._database is not None else None,
                common_share=common_share,
            )

    async def wait_searchable(self) -> None:
        """Wait until the search index has taken in every store and delete so far (for tests and demos)."""
        if self._feeder is not None:
            await self._feeder.settle()

    async def reindex(self) -> int:
        """Rebuild the search index from the store; how many entries it holds after."""
        self._writable()
        assert self._feeder is not None
        return await self._feeder.rebuild()

    # -- forget and retention -------------------------------------------------------------

    async def forget(self, entry_id: int) -> bool:
        """Delete one entry; False if no entry had this id. In a cluster, every server deletes its copy."""
        if not 0 < entry_id <= MAX_ID:
            return False
        database = self._writable()
        if self.replication is not None:
            return await self.replication.forget(database, self._forgetting, entry_id) > 0
        return await self._forgetting.delete(database, FORGET, (entry_id,)) > 0

    async def apply_retention(self, now: float | None = None) -> int:
        """Remove at most ``retention_batch`` entries that are old, unused and unimportant; how many.

        An entry goes when it was created and last accessed more than
        ``retention_max_age_seconds`` ago and its importance is below
        ``retention_min_importance``; the oldest go first. Bounded, so a run never holds the
        write lock for long; the upkeep task runs it every ``retention_interval_seconds``.
        """
        await self._flush_touches()  # recent use, still in memory, counts
        removed = 0
        parameters = self._retention.parameters(now)
        while True:
            # One statement per batch: the write lock is released between them.
            batch = await self._forgetting.delete(self._writable(), RETENTION_DELETE, parameters)
            removed += batch
            if batch < self.settings.retention_batch:
                break
        if removed:
            log.info("memory.retention", removed=removed)
        return removed

    async def evict(self) -> int:
        """Bring the store under ``max_entries`` and ``max_bytes``, with 1% headroom; how many entries went.

        The least important entries go first, then the longest unused (an entry's last access,
        or its creation); lessons are never evicted.
        """
        database = self._writable()
        removed = 0
        async with self._evicting:  # one at a time: two would each remove the same excess
            await self._flush_touches()  # recent use, still in memory, counts
            # Freed pages are not a row's exact size: measure again after each round (a few at most).
            for _ in range(EVICT_ROUNDS):
                wanted = eviction_size(self.entry_counts.total, await used_bytes(database), self.settings)
                if wanted == 0:
                    break
                batch = await self._forgetting.delete(database, EVICT, (min(EVICT_BATCH, wanted),))
                removed += batch
                if batch == 0:
                    break  # only lessons are left
        if removed:
            log.info("memory.evicted", removed=removed, entries=self.entry_counts.total)
        return removed

    async def _run_eviction(self) -> None:
        """Evict whenever a commit passes ``max_entries`` or upkeep finds ``max_bytes`` passed."""
        while True:
            await self._evict_wake.wait()
            self._evict_wake = anyio.Event()
            try:
                await self.evict()
            except MemoryNotRunning:
                return
            except Exception:
                log.exception("memory.eviction_failed")
            finally:
                evicted, self._evicted = self._evicted, anyio.Event()
                evicted.set()

    def _writable(self) -> MemoryDatabase:
        if self._database is None or self._writer is None:
            raise MemoryNotRunning("the memory service is not running")
        return self._database

    # -- bookkeeping ----------------------------------------------------------------------

    def track_neuron(self, neuron_id: str) -> None:
        """Expose ``neuron_id``'s entry count as a series of its own (the runtime's neurons call this)."""
        self.entry_counts.track(neuron_id)

    async def recall(self, query: str, *, trace_id: str, limit: int = 10) -> list[MemoryEntry]:
        """The entries most relevant to a request, searched once per request and shared down its path.

        The first call for ``trace_id`` searches every neuron's entries for any word of
        ``query`` (counted as a search) but the words in more than a quarter of the entries,
        unless all are (then its two rarest), in the index as it stands (it may lack the entries
        of the last ``index_refresh_seconds``); the others, until the request ends, get the same
        entries. See :class:`~hal9.runtime.memory.RequestRecall`.
        """
        return await self._recalls.recall(query, trace_id, limit)

    def on_trace_finished(self, result: TraceResult) -> None:
        self._recalls.forget(result.id)

    def on_neuron_removed(self, neuron_id: str) -> None:
        # Its entries stay; their count joins "other", so no series outlives its neuron.
        self.entry_counts.untrack(neuron_id)

    @property
    def commits(self) -> int:
        """Store transactions committed since start (fewer than stores when they were grouped)."""
        return self._writer.commits if self._writer is not None else 0

    async def _flush_touches(self) -> None:
        if self._database is not None:
            await self._touches.flush(self._database.write, self._database.lock)

    async def refresh_stats(self) -> None:
        """Re-read the database and WAL file sizes (off the event loop) for the next scrape."""
        await self._stats.refresh()

    async def upkeep(self, monotonic_now: float | None = None) -> int:
        """One round of upkeep: write access counts, run retention if it is due, re-read sizes, check ``max_bytes``.

        Returns how many entries retention removed (0 when it was not due). The service runs
        this periodically; call it to run a round now.
        """
        now = time.monotonic() if monotonic_now is None else monotonic_now
        await self._flush_touches()
        removed = 0
        if self._retention.due(now):
            removed = await self.apply_retention()
        await self.refresh_stats()
        database = self._database
        if database is not None and await used_bytes(database) > self.settings.max_bytes:
            self._evict_wake.set()
        return removed
