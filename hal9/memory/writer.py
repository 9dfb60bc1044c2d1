"""Group commit: one writer task turns the stores waiting in a bounded queue into one transaction.

aiosqlite runs each call on the connection's thread, so a commit per store costs several
thread hops and a sync of the WAL for every entry. Here a store puts its rows on a
bounded queue and waits; the writer takes everything waiting (up to ``batch_size`` rows),
inserts it with one statement (the rows as one JSON array) that commits once, then wakes
each store whose rows that commit made durable. While one commit runs, the next batch fills up, so the batch
size follows the load: one row when stores are rare, hundreds under many writers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.memory.database import transaction
from hal9.memory.touches import UPDATE_ACCESS

log = structlog.get_logger("hal9.memory")

#: neuron_id, layer, kind, content, metadata (JSON), importance, created_at (= last_accessed).
Row = tuple[str, str | None, str, str, str, float, float]

_INSERT_ROWS = (
    "INSERT INTO entries (id, neuron_id, layer, kind, content, metadata, importance, created_at, last_accessed)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,"
    " value ->> 7, value ->> 7 FROM json_each(?)"
)
#: The same, for a batch with entries imported from other servers: their origin and id there too.
_INSERT_ORIGIN_ROWS = (
    "INSERT INTO entries (id, neuron_id, layer, kind, content, metadata, importance, created_at, last_accessed,"
    " origin, origin_id) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,"
    " value ->> 6, value ->> 7, value ->> 7, value ->> 8, value ->> 9 FROM json_each(?)"
)
_NEXT_ID = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0)"
#: Built once (``json.dumps`` with options builds an encoder per call); not ASCII-escaped, as SQLite reads it.
_ROWS_JSON = json.JSONEncoder(ensure_ascii=False)


@dataclass(slots=True, eq=False)
class WriteRequest:
    """Rows of one ``store`` call, and what the writer reports back: their ids or an error."""

    rows: list[Row]
    #: Entries imported from another server: the ``(origin, id there)`` of each row; None for this server's own.
    origins: list[tuple[str, int]] | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    ids: list[int] = field(default_factory=list)
    error: Exception | None = None


class GroupCommitWriter:
    """The one task that inserts entries. Other writes (forget, retention) take ``lock`` too.

    Args:
        connection: the write connection (autocommit mode: transactions are explicit).
        lock: held for every write transaction on ``connection``.
        batch_size: most rows in one transaction.
        queue_size: requests waiting before ``submit`` waits for room.
        on_commit: called on the event loop with each committed request's rows and ids.
        take_touches: returns access bookkeeping to write with the next batch (``(count, time, id)``).
    """

    def __init__(
        self,
        connection: aiosqlite.Connection,
        lock: anyio.Lock,
        *,
        batch_size: int,
        queue_size: int,
        on_commit: Callable[[Sequence[WriteRequest]], None],
        take_touches: Callable[[], list[tuple[int, float, int]]],
    ) -> None:
        self._connection = connection
        self._lock = lock
        self.batch_size = batch_size
        self._send, self._receive = anyio.create_memory_object_stream[WriteRequest](queue_size)
        self._on_commit = on_commit
        self._take_touches = take_touches
        self.stopped = anyio.Event()
        #: The id the next row gets; read from the database on the first write.
        self._next_id: int | None = None
        #: Transactions committed and rows they wrote: commits < rows is group commit at work.
        self.commits = 0
        self.rows = 0

    async def submit(self, request: WriteRequest) -> None:
        """Queue a request (waits while the queue is full); raises ClosedResourceError once closed."""
        try:
            # No checkpoint when there is room: the store yields once, waiting for its commit.
            self._send.send_nowait(request)
        except anyio.WouldBlock:
            await self._send.send(request)

    async def close(self) -> None:
        """Take no more requests; the writer commits what is queued, then stops."""
        await self._send.aclose()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            async with self._receive:
                async for first in self._receive:
                    batch = [first]
                    rows = len(first.rows)
                    while rows < self.batch_size:
                        try:
                            request = self._receive.receive_nowait()
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                        batch.append(request)
                        rows += len(request.rows)
                    # Shielded: a stop that cancels the service still lets a begun commit finish.
                    with anyio.CancelScope(shield=True):
                        await self._commit(batch)
        finally:
            self.stopped.set()

    async def _commit(self, batch: list[WriteRequest]) -> None:
        try:
            await self._write(batch)
        except Exception as exc:  # noqa: BLE001 - reported to the stores that waited for it
            if len(batch) == 1:
                batch[0].error = exc
            else:
                # One bad request must not fail the others that happened to share its transaction.
                for request in batch:
                    try:
                        await self._write([request])
                    except Exception as single:  # noqa: BLE001 - reported to its store
                        request.error = single
        committed = [request for request in batch if request.error is None]
        if committed:
            try:
                self._on_commit(committed)
            except Exception:
                log.exception("memory.on_commit_failed")
        for request in batch:
            request.done.set()

    async def _write(self, batch: Sequence[WriteRequest]) -> None:
        connection = self._connection
        async with self._lock:
            if self._next_id is None:
                # Read once: this writer is the only one that inserts, so it counts on from here.
                (row,) = await connection.execute_fetchall(_NEXT_ID)
                self._next_id = int(row[0]) + 1
            # Ids are given here, not by SQLite, so the ids of the batch are known without reading
            # them back; AUTOINCREMENT's sequence follows them, so a deleted entry's id never returns.
            next_id = self._next_id
            params: list[tuple[Any, ...]] = []
            imported = any(request.origins is not None for request in batch)
            for request in batch:
                request.ids = list(range(next_id, next_id + len(request.rows)))
                next_id += len(request.rows)
                if not imported:
                    params.extend((entry_id, *r) for entry_id, r in zip(request.ids, request.rows, strict=True))
                else:
                    origins: Sequence[tuple[str | None, int | None]] = (
                        request.origins if request.origins is not None else [(None, None)] * len(request.rows)
                    )
                    params.extend(
                        (entry_id, *r, *o) for entry_id, r, o in zip(request.ids, request.rows, origins, strict=True)
                    )
            # All the rows in one statement (a JSON array): one thread hop, and SQLite's C code
            # walks the rows instead of a Python loop binding each.
            rows = (_ROWS_JSON.encode(params),)
            insert = _INSERT_ORIGIN_ROWS if imported else _INSERT_ROWS
            touches = self._take_touches()
            try:
                if not touches:
                    # One statement is its own transaction (the connection is in autocommit mode).
                    await connection.execute(insert, rows)
                else:
                    async with transaction(connection):
                        await connection.execute(insert, rows)
                        await connection.executemany(UPDATE_ACCESS, touches)
            except BaseException:
                self._next_id = None  # read it again: something else may have written
                raise
            self._next_id = next_id
        self.commits += 1
        self.rows += len(params)
