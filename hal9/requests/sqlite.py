"""The request store of a single server: a ``requests`` table in the runtime's ``data_dir/hal9.db``.

Writes go through one writer task that commits everything queued since its last commit in one
transaction (group commit): an accept waits for the commit that holds its row, so N requests
accepted together cost one fsync, not N. A request's end is written behind, in the next commit,
without anyone waiting for it. ``synchronous = FULL``: a committed row survives a power cut, not
only a killed process.

Bounded: rows older than the retention go, and past ``max_rows`` the oldest finished ones go,
checked every tenth of ``max_rows`` accepts and at least hourly.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog

from hal9.requests.record import RequestRecord, RequestStoreUnavailable
from hal9.support.database import Database

log = structlog.get_logger("hal9.requests")

#: The connection's page cache, in KiB (SQLite's default is 2,000).
CACHE_KIB = 256
#: Seconds between two prunes when few requests come.
PRUNE_INTERVAL = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    server_id TEXT NOT NULL,
    instance TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS requests_open ON requests (instance) WHERE status = 'accepted';
CREATE INDEX IF NOT EXISTS requests_finished ON requests (finished_at) WHERE status != 'accepted';
CREATE INDEX IF NOT EXISTS requests_created ON requests (created_at);
"""

_Row = tuple[str, str, str, str, float, float | None, str | None]


def _create(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA synchronous=FULL")
    # Reads and writes go by primary key, a few pages each: a small page cache is enough.
    connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    connection.executescript(_SCHEMA)


def _row(record: RequestRecord) -> _Row:
    result = None if record.result is None else json.dumps(record.result, separators=(",", ":"))
    return (
        record.id,
        record.status,
        record.server_id,
        record.instance,
        record.created_at,
        record.finished_at,
        result,
    )


def _record(row: _Row) -> RequestRecord:
    result = None if row[6] is None else json.loads(row[6])
    return RequestRecord(row[0], row[1], row[2], row[3], row[4], row[5], result)


@dataclass(slots=True, eq=False)
class _Batch:
    """What one commit writes; accepts wait for ``done`` and read ``error``."""

    rows: list[_Row] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    accepts: int = 0
    done: anyio.Event = field(default_factory=anyio.Event)
    error: Exception | None = None


def _write(connection: sqlite3.Connection, batch: _Batch) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        # An accept and the same request's end are never in one batch (the end comes after the
        # accept's commit), so a plain upsert keeps the last word.
        connection.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)", batch.rows)
        connection.executemany("DELETE FROM requests WHERE id = ?", [(i,) for i in batch.deletes])
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class SQLiteRequests:
    """Request records in a SQLite file, written by :meth:`run` (start it in a task group).

    Args:
        path: the SQLite file (``data_dir/hal9.db``).
        retention: seconds a record is kept.
        max_rows: records kept at most; past it the oldest finished go first.
    """

    def __init__(self, path: Path, retention: float, max_rows: int) -> None:
        self.retention = retention
        self.max_rows = max_rows
        self._db = Database(path, not_open=lambda: RequestStoreUnavailable("the request store is not open"))
        self._batch: _Batch | None = None
        self._wake = anyio.Event()
        self._accepts_since_prune = 0
        self._pruned_at = 0.0

    async def open(self) -> None:
        await self._db.open(_create)
        await self.prune()

    async def close(self) -> None:
        """Write what is queued, then close the file."""
        with anyio.CancelScope(shield=True):
            await self._commit()
            await self._db.close()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or failed, logged).

        The batch queued now commits after any batch being written: its end means all before it ended.
        """
        await self._queue().done.wait()

    async def run(self) -> None:
        """The writer: one transaction for everything queued since the last one, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._commit()

    # -- writing ------------------------------------------------------------------------

    async def accept(self, record: RequestRecord) -> None:
        """Record an accepted request; returns once it is committed.

        Raises:
            RequestStoreUnavailable: the commit failed (the disk is full, the file unwritable).
        """
        batch = self._queue()
        batch.rows.append(_row(record))
        batch.accepts += 1
        await batch.done.wait()
        if batch.error is not None:
            raise RequestStoreUnavailable(f"the request could not be recorded: {batch.error}") from batch.error

    def finish(self, record: RequestRecord) -> None:
        """Record a request's end in the next commit (written behind: nobody waits for it)."""
        self._queue().rows.append(_row(record))

    def discard(self, request_id: str) -> None:
        """Forget a record whose request was refused after all (in the next commit)."""
        self._queue().deletes.append(request_id)

    def _queue(self) -> _Batch:
        if self._batch is None:
            self._batch = _Batch()
        self._wake.set()
        return self._batch

    async def _commit(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            await self._db.call(lambda c: _write(c, batch))
        except Exception as exc:  # noqa: BLE001 - told to the accepts that wait; the ends are logged
            batch.error = exc
            log.error("requests.write_failed", rows=len(batch.rows), error=f"{type(exc).__name__}: {exc}")
        finally:
            batch.done.set()
        self._accepts_since_prune += batch.accepts
        if self._accepts_since_prune >= max(1, self.max_rows // 10) or time.time() - self._pruned_at > PRUNE_INTERVAL:
            await self.prune()

    async def prune(self) -> int:
        """Delete records past the retention, then the oldest finished past ``max_rows``; returns how many went."""
        cutoff = time.time() - self.retention
        max_rows = self.max_rows

        def prune(connection: sqlite3.Connection) -> int:
            aged = connection.execute("DELETE FROM requests WHERE created_at < ?", (cutoff,)).rowcount
            (count,) = connection.execute("SELECT COUNT(*) FROM requests").fetchone()
            over = int(count) - max_rows
            if over <= 0:
                return int(aged)
            capped = connection.execute(
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE status != 'accepted'"
                " ORDER BY finished_at LIMIT ?)",
                (over,),
            ).rowcount
            return int(aged) + int(capped)

        self._accepts_since_prune = 0
        self._pruned_at = time.time()
        try:
            removed = await self._db.call(prune)
        except sqlite3.Error as exc:
            log.error("requests.prune_failed", error=f"{type(exc).__name__}: {exc}")
            return 0
        if removed:
            log.info("requests.pruned", removed=removed)
        return removed

    # -- reading ------------------------------------------------------------------------

    async def get(self, request_id: str) -> RequestRecord | None:
        row = await self._db.call(lambda c: c.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone())
        return None if row is None else _record(row)

    async def interrupt_previous(self, instance: str) -> int:
        """Mark every record still ``accepted`` by another run than ``instance`` failed ``Interrupted``.

        The file is this server's alone, so every earlier run is its own (whatever its server id was).
        """
        now = time.time()

        def sweep(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                "SELECT * FROM requests WHERE status = 'accepted' AND instance != ?", (instance,)
            ).fetchall()
            if rows:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany(
                        "INSERT OR REPLACE INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [_row(_record(row).interrupted(now)) for row in rows],
                    )
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            return len(rows)

        return await self._db.call(sweep)

    async def run_is_current(self, record: RequestRecord, instance: str) -> bool:
        """Whether the run that accepted ``record`` still runs: only this one can, here."""
        return record.instance == instance
