"""Importing the entries other servers stored into this server's SQLite, at least once and never twice.

Each fetched batch becomes one write through the memory's group-commit writer, so the imported
entries reach the search index the way a local store does (the feeder takes them in). A
message is acknowledged only after that write has committed: a crash before it leaves the
message to come again. An entry already here (a message delivered again, or published twice)
is recognised by its origin and its id there (a unique key in SQLite) and left out, and so is
one forgotten anywhere in the cluster (:mod:`hal9.memory.shared_forgets`): the forgets a batch
carries are applied before its entries are written.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiosqlite
import anyio
import structlog

from hal9.cluster.consumer import Msg
from hal9.memory.shared_entries import ORIGIN_HEADER, SharedBatch, decode
from hal9.memory.writer import Row, WriteRequest

log = structlog.get_logger("hal9.memory")

#: A message that could not be written comes again after this long.
RETRY_SECONDS = 1.0
#: Of the ids (there) of an origin's entries, those here already or forgotten.
_PRESENT = (
    "SELECT origin_id FROM entries WHERE origin = ?1 AND origin_id IN (SELECT value FROM json_each(?2))"
    " UNION SELECT origin_id FROM forgotten WHERE origin = ?1 AND origin_id IN (SELECT value FROM json_each(?2))"
)


class EntryImporter:
    """Takes batches of the memory stream's messages and writes the other servers' entries here.

    Args:
        reader: a connection to look up which entries are here already.
        write: submits a write request to the memory's writer (raises once it is closed).
        forget: keeps the keys ``(origin, id there)`` of entries another server forgot and deletes those
            entries here; how many it deleted.
        origin: this database's own origin; its messages are skipped unread (it has their entries).
        max_content_chars: longer entries are refused, as a local store refuses them.
    """

    def __init__(
        self,
        reader: aiosqlite.Connection,
        write: Callable[[WriteRequest], Awaitable[None]],
        forget: Callable[[list[tuple[str, int]]], Awaitable[int]],
        origin: str,
        max_content_chars: int,
    ) -> None:
        self._reader = reader
        self._write = write
        self._forget = forget
        self._origin = origin
        self._max_content_chars = max_content_chars
        self._progress = anyio.Event()
        #: Entries imported, entries deleted for other servers' forgets, entries refused as invalid,
        #: messages refused as unreadable.
        self.imported = 0
        self.forgotten = 0
        self.rejected = 0
        self.bad_messages = 0

    @property
    def progress(self) -> anyio.Event:
        """Set once the next batch has been handled (take it before checking what it changes; for tests)."""
        return self._progress

    async def handle(self, messages: list[Msg]) -> None:
        """Write the entries of ``messages`` that are not here yet in one commit; then acknowledge them."""
        batches: list[SharedBatch] = []
        keep: list[Msg] = []
        for message in messages:
            if message.headers is not None and message.headers.get(ORIGIN_HEADER) == self._origin:
                keep.append(message)  # this database's own entries, back from the stream: it has them
                continue
            try:
                batch = decode(message.data, self._max_content_chars)
            except ValueError as exc:
                self.bad_messages += 1
                log.warning("memory.bad_shared_message", subject=message.subject, error=str(exc)[:200])
                await message.term()  # never again: it would fail the same way
                continue
            if batch.rejected:
                self.rejected += batch.rejected
                log.warning("memory.shared_entries_refused", origin=batch.origin[:200], entries=batch.rejected)
            keep.append(message)
            if batch.origin != self._origin:
                batches.append(batch)
        forgets = [key for batch in batches for key in batch.forgets]
        if forgets:
            try:
                self.forgotten += await self._forget(forgets)
            except Exception as exc:  # noqa: BLE001 - the messages come again
                log.warning("memory.forget_failed", keys=len(forgets), error=type(exc).__name__)
                for message in keep:
                    await message.nak(delay=RETRY_SECONDS)
                return
        rows, origins = await self._new(batches)
        if rows:
            request = WriteRequest(rows, origins)
            try:
                await self._write(request)
                await request.done.wait()
                error = request.error
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return  # stopping: the messages come again at the next start
            if error is not None:
                log.warning("memory.import_failed", entries=len(rows), error=type(error).__name__)
                for message in keep:
                    await message.nak(delay=RETRY_SECONDS)
                return
            self.imported += len(rows)
        for message in keep:
            await message.ack()
        progress, self._progress = self._progress, anyio.Event()
        progress.set()

    async def _new(self, batches: list[SharedBatch]) -> tuple[list[Row], list[tuple[str, int]]]:
        """The rows of ``batches`` not stored here yet, with their origins."""
        rows: list[Row] = []
        origins: list[tuple[str, int]] = []
        by_origin: dict[str, dict[int, Row]] = {}
        for batch in batches:
            by_origin.setdefault(batch.origin, {}).update(batch.entries)
        for origin, entries in by_origin.items():
            if not entries:
                continue  # a batch of forgets
            found = await self._reader.execute_fetchall(_PRESENT, (origin, json.dumps(list(entries))))
            present = {int(entry_id) for (entry_id,) in found}
            for entry_id, row in entries.items():
                if entry_id not in present:
                    rows.append(row)
                    origins.append((origin, entry_id))
        return rows, origins
