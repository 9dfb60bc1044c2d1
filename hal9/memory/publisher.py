"""Publishing this server's entries to the cluster's memory stream, from SQLite, behind the stores.

SQLite is the outbox: entry ids only grow, so "every entry stored here up to id P is in the
stream" is one number, kept in the database (``replication.published``). The publisher reads the
entries above it, publishes them in messages of many entries with JetStream acknowledgements
(several in flight at once), and moves the mark only over what JetStream acknowledged. Nothing
of this is on a store's path: a store commits to SQLite and wakes the publisher. When NATS is
away the entries wait in SQLite (bounded by the memory's own limits) and go out once it is back;
after a crash the publisher starts again from the mark, so an entry may be published twice,
never lost (the stream drops a repeat within its duplicate window by message id, and an importer
recognises one by its origin and id).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiosqlite
import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.cluster.backoff import Backoff
from hal9.cluster.consumer import RETRYABLE
from hal9.cluster.state import ClusterState
from hal9.memory.database import MemoryDatabase
from hal9.memory.shared_entries import ORIGIN_HEADER, OVERHEAD, encode, encode_entry, encode_forgets
from hal9.memory.shared_forgets import mark_published, unpublished
from hal9.memory.writer import Row

log = structlog.get_logger("hal9.memory")

#: Most entries one round reads from SQLite.
ROUND_ENTRIES = 2000
#: Most entries in one message.
MESSAGE_ENTRIES = 100
#: Most keys of forgotten entries in one message (at the longest origin, JSON-escaped, well under NATS's 1 MB).
MESSAGE_KEYS = 500
#: Messages awaiting their acknowledgement at once.
IN_FLIGHT = 16

_MARK = "SELECT published FROM replication WHERE id = 1"
_SET_MARK = "UPDATE replication SET published = ? WHERE id = 1"
_UNPUBLISHED = (
    "SELECT id, neuron_id, layer, kind, content, metadata, importance, created_at FROM entries"
    " WHERE id > ? AND origin IS NULL ORDER BY id LIMIT ?"
)


class EntryPublisher:
    """The task that publishes the entries stored here (not the imported ones) to the memory stream.

    Args:
        state: the cluster state service.
        database: the memory's database (the mark is written on its write connection).
        reader: a connection the publisher reads entries with.
        stream: creates (or finds) the memory stream; returns its name.
        subject: this server's subject in the stream.
        origin: this database's origin (``<server_id>/<identity>``).
        keep_forgotten: seconds the keys of forgotten entries are kept (as long as the stream keeps entries).
    """

    def __init__(
        self,
        state: ClusterState,
        database: MemoryDatabase,
        reader: aiosqlite.Connection,
        stream: Callable[[], Awaitable[str]],
        subject: str,
        origin: str,
        keep_forgotten: float,
    ) -> None:
        self._state = state
        self._database = database
        self._reader = reader
        self._stream = stream
        self._subject = subject
        self._origin = origin
        self._keep_forgotten = keep_forgotten
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        #: Every entry stored here with an id up to this is in the stream.
        self.published = 0
        #: Entries never published: larger than a NATS message may be.
        self.given_up = 0
        #: Keys of entries forgotten here that are in the stream.
        self.forgets_published = 0
        self.failures = 0

    def wake(self) -> None:
        """Entries were stored or forgotten here: publish them."""
        self._wake.set()

    async def settle(self, up_to: int, timeout: float = 30.0) -> None:
        """Wait until every entry stored here up to id ``up_to`` is in the stream (for tests and demos).

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        with anyio.fail_after(timeout):
            while self.published < up_to:
                self._wake.set()
                await self._progress.wait()

    @property
    def progress(self) -> anyio.Event:
        """Set once the mark next moves or a round next fails (take it before checking; for tests)."""
        return self._progress

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Publish what waits, whenever entries are stored; after a failure, again with backoff."""
        ((mark,),) = await self._reader.execute_fetchall(_MARK)
        self.published = int(mark)
        task_status.started()
        backoff = Backoff()
        while True:
            try:
                caught_up = await self._round()
            except RETRYABLE as exc:
                self.failures += 1
                self._pulse()
                if backoff.failed():
                    log.warning("memory.publish_failed", error=type(exc).__name__, published=self.published)
                await backoff.wait()
                continue
            if backoff.succeeded():
                log.info("memory.publish_resumed", published=self.published)
            if caught_up:
                await self._wake.wait()
                self._wake = anyio.Event()

    async def _round(self) -> bool:
        """Publish what waits: entries, then the keys of entries forgotten; True when nothing was left."""
        entries_done = await self._publish_entries()
        return await self._publish_forgets() and entries_done

    async def _publish_forgets(self) -> bool:
        """Publish up to :data:`MESSAGE_KEYS` keys of entries forgotten here; True when none were left.

        Raises:
            nats.errors.Error, TimeoutError, OSError: the message was not acknowledged (the keys stay unpublished).
        """
        keys, last = await unpublished(self._reader, MESSAGE_KEYS)
        if not keys:
            return True
        await self._state.jetstream.publish(
            self._subject,
            encode_forgets(self._origin, keys),
            stream=await self._stream(),
            headers={"Nats-Msg-Id": f"{self._origin}:forgets:{last}", ORIGIN_HEADER: self._origin},
        )
        await mark_published(self._database, last, time.time() - self._keep_forgotten)
        self.forgets_published += len(keys)
        self._pulse()
        return len(keys) < MESSAGE_KEYS

    async def _publish_entries(self) -> bool:
        """Publish up to :data:`ROUND_ENTRIES` entries; True when none were left.

        Raises:
            nats.errors.Error, TimeoutError, OSError: a message was not acknowledged (the mark
                moved over those before it that were).
        """
        rows = list(await self._reader.execute_fetchall(_UNPUBLISHED, (self.published, ROUND_ENTRIES)))
        if not rows:
            return True
        messages = self._messages([(int(r[0]), (r[1], r[2], r[3], r[4], r[5], r[6], r[7])) for r in rows])
        last = int(rows[-1][0])
        stream = await self._stream()
        acked = [False] * len(messages)
        error: BaseException | None = None
        limiter = anyio.CapacityLimiter(IN_FLIGHT)
        js = self._state.jetstream

        async def publish(index: int, payload: bytes, first: int, final: int) -> None:
            nonlocal error
            async with limiter:
                try:
                    await js.publish(
                        self._subject,
                        payload,
                        stream=stream,
                        headers={"Nats-Msg-Id": f"{self._origin}:{first}:{final}", ORIGIN_HEADER: self._origin},
                    )
                except RETRYABLE as exc:
                    error = exc
                else:
                    acked[index] = True

        async with anyio.create_task_group() as tasks:
            for index, (payload, first, final) in enumerate(messages):
                tasks.start_soon(publish, index, payload, first, final)
        # The mark moves over the messages acknowledged in order, up to the first that was not.
        done = next((i for i, ok in enumerate(acked) if not ok), len(acked))
        mark = last if done == len(acked) else (messages[done - 1][2] if done else self.published)
        if mark > self.published:
            await self._mark(mark)
        if error is not None:
            raise error
        return len(rows) < ROUND_ENTRIES

    def _messages(self, rows: list[tuple[int, Row]]) -> list[tuple[bytes, int, int]]:
        """The rows cut into messages under NATS's payload limit: ``(payload, first id, last id)`` each."""
        limit = self._state.client.max_payload - OVERHEAD
        messages: list[tuple[bytes, int, int]] = []
        batch: list[bytes] = []
        size = 0
        first = previous = 0
        for entry_id, row in rows:
            try:
                entry = encode_entry(entry_id, row)
            except UnicodeEncodeError:  # text stored before it was checked: it has no UTF-8 form
                entry = b""
            if not entry or len(entry) > limit:
                self.given_up += 1
                log.warning("memory.not_shared", entry_id=entry_id, bytes=len(entry), limit=limit)
                continue
            if batch and (len(batch) >= MESSAGE_ENTRIES or size + len(entry) + 1 > limit):
                messages.append((encode(self._origin, batch), first, previous))
                batch, size = [], 0
            if not batch:
                first = entry_id
            batch.append(entry)
            size += len(entry) + 1
            previous = entry_id
        if batch:
            messages.append((encode(self._origin, batch), first, previous))
        return messages

    async def _mark(self, mark: int) -> None:
        database = self._database
        async with database.lock:
            await database.write.execute(_SET_MARK, (mark,))
        self.published = mark
        self._pulse()

    def _pulse(self) -> None:
        progress, self._progress = self._progress, anyio.Event()
        progress.set()
