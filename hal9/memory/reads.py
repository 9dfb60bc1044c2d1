"""Reading entries: the SQL of retrieve and recent, and a search: the index's ranking, read back from the store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import aiosqlite
import anyio
import anyio.to_thread

from hal9.memory.index import Filters, SearchIndex
from hal9.memory.query import terms
from hal9.runtime.memory import MemoryEntry

if TYPE_CHECKING:
    from hal9.memory.entry_cache import EntryCache

MAX_SEARCH_LIMIT = 1000
#: A search whose words hold at most this many postings runs on the event loop (about half a
#: millisecond at most: block-max WAND skips most of them); a larger one in a worker thread.
INLINE_POSTINGS = 100_000
#: And it reads back at most this many rows there (point reads by primary key).
INLINE_ROWS = 50

COLUMNS = (
    "e.id, e.neuron_id, e.layer, e.kind, e.content, e.metadata, e.importance, e.created_at, e.last_accessed,"
    " e.access_count"
)
# Only these constants are formatted into SQL; every value is a bound parameter.
BY_ID = f"SELECT {COLUMNS} FROM entries e WHERE e.id = ?"  # noqa: S608 - constant columns only
RECENT = (
    f"SELECT {COLUMNS} FROM entries e WHERE e.neuron_id = ?"  # noqa: S608 - constant columns only
    " ORDER BY e.created_at DESC, e.id DESC LIMIT ?"
)
#: Entries by id, in one statement (the ids as a JSON array).
BY_IDS = f"SELECT {COLUMNS} FROM entries e WHERE e.id IN (SELECT value FROM json_each(?))"  # noqa: S608 - constant columns


def with_score(entry: MemoryEntry, score: float) -> MemoryEntry:
    """The entry with a search's score (built directly: ``dataclasses.replace`` costs several times more)."""
    return MemoryEntry(
        entry.id,
        entry.neuron_id,
        entry.layer,
        entry.kind,
        entry.content,
        entry.metadata,
        entry.importance,
        entry.created_at,
        entry.last_accessed,
        entry.access_count,
        score,
    )


def entry_from_row(row: Sequence[Any], score: float | None = None) -> MemoryEntry:
    return MemoryEntry(
        id=row[0],
        neuron_id=row[1],
        layer=row[2],
        kind=row[3],
        content=row[4],
        metadata=json.loads(row[5]),
        importance=row[6],
        created_at=row[7],
        last_accessed=row[8],
        access_count=row[9],
        score=score,
    )


async def search_entries(
    reader: aiosqlite.Connection,
    index: SearchIndex,
    query: str,
    *,
    filters: Filters,
    limit: int,
    match: Literal["all", "any"],
    excluded: Collection[int],
    limiter: anyio.CapacityLimiter,
    cache: EntryCache,
    point_reader: sqlite3.Connection | None = None,
    common_share: float | None = None,
) -> list[MemoryEntry]:
    """The exact BM25 top ``limit`` for ``query`` from the index, read back from the store.

    The index answers ids and scores, and the entries are then taken from the entry cache
    (which deletes keep coherent) or read from SQLite in one statement, so what is returned is
    what the store holds now: an id the store no longer has is left out.

    Where it runs depends on what it costs. A search whose words hold at most
    :data:`INLINE_POSTINGS` postings, and at most :data:`INLINE_ROWS` rows to read back, runs on
    the event loop, reading its rows on ``point_reader``: it takes well under a millisecond, less
    than the hops to a worker thread and back, which under load cost the most (each waits for the
    GIL).
    A larger one ranks in a worker thread (the index releases the GIL) and reads through
    ``reader``'s thread.
    """
    found = terms(query)
    limit = max(0, min(int(limit), MAX_SEARCH_LIMIT))
    if not found or limit == 0:
        return []
    kept, postings = index.plan(found, match, common_share)
    search = partial(index.search, kept, match, filters, limit, frozenset(excluded))
    inline = point_reader is not None and limit <= INLINE_ROWS and postings <= INLINE_POSTINGS
    ranked = search() if inline else await anyio.to_thread.run_sync(search, limiter=limiter)
    if not ranked:
        return []
    ids = [entry_id for entry_id, _ in ranked]
    by_id = cache.many_now(point_reader, ids) if point_reader is not None and inline else await cache.many(reader, ids)
    answer: dict[int, MemoryEntry] = {}
    for entry_id, score in ranked:
        entry = by_id.get(entry_id)
        if entry is not None and entry_id not in answer:  # one copy, whatever the index holds
            answer[entry_id] = with_score(entry, score)
    return list(answer.values())
