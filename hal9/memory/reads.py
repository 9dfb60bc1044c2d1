"""Reading entries: the SQL of retrieve, recent and search, and running a search's plan (:mod:`hal9.memory.plan`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiosqlite

from hal9.memory.plan import Frequency, ProbeCache, SearchPlan, plan_search, units, without_probes
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
_FILTERS = ("e.neuron_id = ?", "e.kind = ?", "e.created_at >= ?", "e.created_at < ?")
_JOIN = " JOIN entries e ON e.id = entries_fts.rowid"
#: A unit's newest ``depth`` postings: how many there are and the oldest's rowid (FTS5 walks newest first).
_FREQUENCY = (
    "SELECT ?, count(*), coalesce(min(rowid), 0) FROM"
    " (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT ?)"
)
#: The matches of an expression at or above a rowid (the filters' clauses are appended).
_MATCHES = "SELECT entries_fts.rowid AS r FROM entries_fts{join} WHERE entries_fts MATCH ? AND entries_fts.rowid >= ?"
#: The window: its newest K matches (``w``, one walk newest first), ranked by BM25 over the scored
#: terms from the oldest of them up; the ``+`` keeps the IN a filter on each row, not a list of
#: lookups FTS5 would run one by one.
_WINDOW = (
    "WITH w AS MATERIALIZED ({matches} ORDER BY entries_fts.rowid DESC LIMIT ?)"  # noqa: S608 - constants only
    f" SELECT {COLUMNS}, x.s FROM (SELECT entries_fts.rowid AS r, bm25(entries_fts) AS s FROM entries_fts"
    " WHERE entries_fts.rowid >= (SELECT coalesce(min(r), ?) FROM w) AND entries_fts MATCH ?{also}"
    " ORDER BY s, r LIMIT ?) x JOIN entries e ON e.id = x.r ORDER BY x.s, e.id"
)
#: A window whose floor is known: the matches at or above it, ranked.
_RANKED_FROM = (
    f"SELECT {COLUMNS}, x.s FROM (SELECT entries_fts.rowid AS r, bm25(entries_fts) AS s FROM entries_fts"  # noqa: S608 - constants only
    " WHERE entries_fts MATCH ? AND entries_fts.rowid >= ? ORDER BY s, r LIMIT ?) x"
    " JOIN entries e ON e.id = x.r ORDER BY x.s, e.id"
)
_IN_WINDOW = " AND +entries_fts.rowid IN (SELECT r FROM w)"
#: The matches in index order (FTS5's fastest), scored as they are walked, at most ``cap + 1``;
#: the best of them, with how many there were: all of them if at most ``cap``.
_RANKED_ALL = (
    "WITH c AS MATERIALIZED (SELECT entries_fts.rowid AS r, bm25(entries_fts) AS s FROM entries_fts{join}"  # noqa: S608
    " WHERE entries_fts MATCH ?{where} ORDER BY entries_fts.rowid LIMIT ?)"
    f" SELECT {COLUMNS}, top.s, (SELECT count(*) FROM c) FROM (SELECT r, s FROM c ORDER BY s, r LIMIT ?) top"
    " JOIN entries e ON e.id = top.r ORDER BY top.s, e.id"
)
_NEWEST = (
    f"SELECT {COLUMNS}, NULL FROM ({{matches}} ORDER BY entries_fts.rowid DESC LIMIT ?) x"  # noqa: S608 - constants only
    " JOIN entries e ON e.id = x.r ORDER BY e.id DESC"
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
    probes: ProbeCache | None = None,
) -> list[MemoryEntry]:
    """Full-text search, bounded by ``candidates``: the plan :meth:`SQLiteMemory.search` documents."""
    found = terms(query)
    limit = max(0, min(int(limit), MAX_SEARCH_LIMIT))
    if not found or limit == 0:
        return []
    probed = list(dict.fromkeys(unit for term in found for unit in units(term)))
    # Each probe walks at most ``depth`` postings: a query of many words probes each less deeply.
    depth = min(candidates, max(64, 4 * candidates // len(probed)))
    plan = without_probes(found, candidates=candidates, depth=depth, max_id=max_id)
    frequencies: dict[Term, Frequency] = {}
    if plan is None:
        frequencies = probes.recall(probed, depth, max_id) if probes is not None else {}
        missing = [unit for unit in probed if unit not in frequencies]
        if missing:
            fetched = await _frequencies(reader, missing, depth)
            frequencies.update(fetched)
            if probes is not None:
                probes.keep(fetched, depth, max_id)
        plan = plan_search(found, frequencies, match=match, candidates=candidates, depth=depth, max_id=max_id)
    filters = _Filters.of(neuron_id, kind, since, until)
    exact = await _exact(reader, plan, frequencies, match, filters, depth, limit)
    if exact is not None:
        return exact
    return await _window(reader, plan, frequencies, match, filters, depth, candidates, limit)


async def _exact(
    reader: aiosqlite.Connection,
    plan: SearchPlan,
    frequencies: dict[Term, Frequency],
    match: Literal["all", "any"],
    filters: _Filters,
    depth: int,
    limit: int,
) -> list[MemoryEntry] | None:
    """Plan 1, the full BM25 ranking, if it fits the budget; None if it does not."""
    known = frequencies.get(plan.terms[0]) if len(plan.terms) == 1 and not filters.clauses else None
    if known is not None and known.count < depth and known.count <= plan.exact_cap:
        # One word or prefix whose probe counted all its matches, few enough: rank them all.
        rows = await reader.execute_fetchall(_RANKED_FROM, [expression(plan.terms, match), 0, limit])
        return [entry_from_row(row, score=row[10]) for row in rows]
    if not plan.exact_cap or plan.matches > plan.exact_cap:
        return None
    sql = _RANKED_ALL.format(join=filters.join, where=filters.where)
    params = [expression(plan.terms, match), *filters.params, plan.exact_cap + 1, limit]
    rows = list(await reader.execute_fetchall(sql, params))
    if rows and rows[0][11] > plan.exact_cap:
        return None  # more matches than estimated: the walk stopped past the cap
    return [entry_from_row(row, score=row[10]) for row in rows]


async def _window(
    reader: aiosqlite.Connection,
    plan: SearchPlan,
    frequencies: dict[Term, Frequency],
    match: Literal["all", "any"],
    filters: _Filters,
    depth: int,
    candidates: int,
    limit: int,
) -> list[MemoryEntry]:
    """Plans 2 and 3: the newest matches, ranked by the scored terms, or unranked if none."""
    selected = expression(plan.expression, match)
    matches = _MATCHES.format(join=filters.join) + filters.where
    if not plan.scored:
        params = [selected, plan.lower, *filters.params, limit]
        return [entry_from_row(row) for row in await reader.execute_fetchall(_NEWEST.format(matches=matches), params)]
    window = max(plan.window, limit)  # a costly window still answers a full page
    single = len(plan.expression) == 1 and not plan.deferred and not filters.clauses
    frequency = frequencies.get(plan.expression[0]) if single else None
    if frequency is not None and depth == candidates == window:
        # One word or prefix: its probe walked its newest K postings already, the oldest is the floor.
        params = [selected, frequency.oldest if frequency.count >= candidates else 0, limit]
        return [entry_from_row(row, score=row[10]) for row in await reader.execute_fetchall(_RANKED_FROM, params)]
    also = _IN_WINDOW if plan.deferred or filters.clauses else ""
    params = [selected, plan.lower, *filters.params, window, plan.lower, expression(plan.scored, match), limit]
    rows = await reader.execute_fetchall(_WINDOW.format(matches=matches, also=also), params)
    return [entry_from_row(row, score=row[10]) for row in rows]


@dataclass(frozen=True, slots=True)
class _Filters:
    clauses: list[str]
    params: list[Any]

    @classmethod
    def of(cls, *values: Any) -> _Filters:
        pairs = [(clause, value) for clause, value in zip(_FILTERS, values, strict=True) if value is not None]
        return cls([clause for clause, _ in pairs], [value for _, value in pairs])

    @property
    def join(self) -> str:
        return _JOIN if self.clauses else ""

    @property
    def where(self) -> str:
        return "".join(f" AND {clause}" for clause in self.clauses)


async def _frequencies(reader: aiosqlite.Connection, probed: list[Term], depth: int) -> dict[Term, Frequency]:
    # All the probes in one statement: each aiosqlite call is a thread hop.
    sql = " UNION ALL ".join([_FREQUENCY] * len(probed))
    params = [value for index, unit in enumerate(probed) for value in (index, unit.expression(), depth)]
    rows = await reader.execute_fetchall(sql, params)
    return {probed[int(index)]: Frequency(int(count), int(oldest)) for index, count, oldest in rows}
