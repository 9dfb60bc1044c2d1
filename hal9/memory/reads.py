"""Reading entries: the SQL of retrieve, recent and search, and the plan that bounds a search's work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import aiosqlite

from hal9.memory.query import Term, expression, terms
from hal9.runtime.memory import MemoryEntry, MemoryKind

MAX_SEARCH_LIMIT = 1000

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
_SEARCH = (
    f"SELECT {COLUMNS}, bm25(entries_fts) AS score FROM entries_fts"  # noqa: S608 - constant columns only
    " JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH ?"
)
_FILTERS = ("e.neuron_id = ?", "e.kind = ?", "e.created_at >= ?", "e.created_at < ?")
_JOINED = " FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH ?"
#: The n-th most recent match (OFFSET n - 1): cheap, FTS5 walks its doclists newest first and stops.
_PROBE = "SELECT entries_fts.rowid" + _JOINED
_NEWEST = f"SELECT {COLUMNS}, NULL AS score" + _JOINED
_PROBE_TERM = "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?"
# Without filters the index alone picks the rows and entries is read for the few answered
# only: a join in the ranking or the probe reads an entries row for every match.
_RANKED_PLAIN = (
    f"SELECT {COLUMNS}, r.score FROM (SELECT rowid, rank AS score FROM entries_fts"  # noqa: S608 - constants only
    " WHERE entries_fts MATCH ? AND rowid >= ? ORDER BY rank, rowid LIMIT ?) r"
    " JOIN entries e ON e.id = r.rowid ORDER BY r.score, e.id"
)
_NEWEST_PLAIN = (
    f"SELECT {COLUMNS}, NULL FROM (SELECT rowid FROM entries_fts"  # noqa: S608 - constants only
    " WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT ?) r JOIN entries e ON e.id = r.rowid ORDER BY e.id DESC"
)
#: In an "any" search, a term in at least this share of the entries is dropped (when others remain).
COMMON_TERM_SHARE = 0.2


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
    query: str,
    *,
    neuron_id: str | None,
    kind: MemoryKind | None,
    since: float | None,
    until: float | None,
    limit: int,
    match: Literal["all", "any"],
    candidates: int,
    max_id: int,
) -> list[MemoryEntry]:
    """Full-text search, bounded by ``candidates``: the plan :meth:`SQLiteMemory.search` documents."""
    found = terms(query)
    limit = max(0, min(int(limit), MAX_SEARCH_LIMIT))
    if not found or limit == 0:
        return []
    if match == "any" and len(found) > 1:
        found = await _without_common_terms(reader, found, candidates, max_id)
    where = [""]
    params: list[Any] = [expression(found, match)]
    for clause, value in zip(_FILTERS, (neuron_id, kind, since, until), strict=True):
        if value is not None:
            where.append(clause)
            params.append(value)
    # Bound the work: BM25 scores every match, so a query matching most entries would cost
    # time in proportion to the whole store. Past K matches only the newest K are ranked
    # (a memory favours the recent); below it, the ranking is the full one.
    filtered = len(where) > 1
    conditions = " AND ".join(where)
    probe_sql = _PROBE + conditions + " ORDER BY entries_fts.rowid DESC LIMIT 1 OFFSET ?" if filtered else _PROBE_TERM
    probe = list(await reader.execute_fetchall(probe_sql, [*params, candidates - 1]))
    floor = int(probe[0][0]) if probe else 0
    if probe and candidates / max(1, max_id - floor + 1) >= COMMON_TERM_SHARE:
        # Most entries match. bm25() counts the entries holding each term over the whole
        # index before it ranks anything, which alone costs time in proportion to the
        # store: the newest matches are the answer (a memory favours the recent).
        sql = _NEWEST + conditions + " ORDER BY entries_fts.rowid DESC LIMIT ?" if filtered else _NEWEST_PLAIN
        return [entry_from_row(row) for row in await reader.execute_fetchall(sql, [*params, limit])]
    if filtered:
        if probe:
            where.append("entries_fts.rowid >= ?")
            params.append(floor)
        rows = await reader.execute_fetchall(
            _SEARCH + " AND ".join(where) + " ORDER BY score, e.id LIMIT ?", [*params, limit]
        )
    else:
        rows = await reader.execute_fetchall(_RANKED_PLAIN, [*params, floor, limit])
    return [entry_from_row(row, score=row[10]) for row in rows]


async def _without_common_terms(
    reader: aiosqlite.Connection, found: list[Term], candidates: int, max_id: int
) -> list[Term]:
    """Drop the terms found in most entries (like stop words): they add little to BM25
    and, in an OR, would make every entry a match. All of them are kept if all are common."""
    # All the probes in one statement: each aiosqlite call is a thread hop, and a query of
    # 16 terms probed one by one cost ~3 ms of hops alone.
    sql = "SELECT " + ", ".join([f"({_PROBE_TERM})"] * len(found))
    params = [value for term in found for value in (term.expression(), candidates - 1)]
    (floors,) = await reader.execute_fetchall(sql, params)
    kept = [
        term
        for term, floor in zip(found, floors, strict=True)
        # The rowid span holding the term's last ``candidates`` matches gives its share.
        if floor is None or candidates / max(1, max_id - int(floor) + 1) < COMMON_TERM_SHARE
    ]
    return kept or found
