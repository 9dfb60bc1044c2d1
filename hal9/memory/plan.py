"""How a search spends its work: the cost model and the choice between an exact and a bounded ranking.

FTS5's ``bm25()`` costs, per query, a walk of each term's whole doclist (it counts the
entries holding each term before it ranks anything) plus about 64 times as much per match it
scores (a document-size lookup and the score). Both are measured here in *postings* (entries
of a doclist walked); on the 2-core development machine a posting costs about 0.025 µs, so
``140 * K`` postings (K = ``search_candidates``, 1,000 by default) is about 3.5 ms.

Scoring outside ``bm25()`` does not make an exact ranking cheaper (measured at 1M entries on
the words plain FTS5 ranks in under 5 ms, 3,200-6,000 matches each): each entry's term
frequency from an ``fts5vocab`` table of type ``instance`` (grouped by entry), its length from
``entries_fts_docsize``, and FTS5's formula in SQL reproduce ``bm25()``'s top 10 exactly, ids and
scores, but cost 1.4 µs a match (1.2 scored in Python) against ``bm25()``'s 0.85-0.9; with
the length already an integer, 0.9 as well. Just reading the two inputs costs 0.7 µs a match
(the size lookup alone 0.35), so no scorer in SQL or Python can be much cheaper: only one in C
inside FTS5 could be.

The plan, from each term's frequency (probed by walking its newest K postings):

1. Exact, when the terms' doclists plus 64 per estimated match fit ``EXACT_WORK * K``: the
   full BM25 ranking, the same entries, order and scores as ``MATCH ... ORDER BY bm25(), rowid``
   (the walk stops past the cap, so an estimate too low costs at most the budget).
2. Otherwise a window: the newest K matches (fewer if the scored doclists leave less of
   ``WINDOW_WORK * K`` for 64 per match), ranked by BM25 of the terms whose doclists fit
   ``SCORE_WORK * K`` (the cheapest first); the other terms still filter (an entry must hold
   them) but do not score: like a search engine's stop words, they are in so many entries that
   their weight is small and counting them would cost the most. When the terms together are
   too frequent to walk the whole index (``WALK_WORK * K``), only the newest entries are
   searched: the span whose postings fit that bound.
3. Newest, when not even one term fits: the newest matches, unranked (``score`` None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hal9.memory.cache import LRUCache
from hal9.memory.query import Term

#: Per match scored, in postings: ``bm25()`` reads the entry's size and scores it (~1.6 µs here).
RANK_WEIGHT = 64
#: An exact ranking costs at most this many postings per K (~3.5 ms at K = 1,000 here).
EXACT_WORK = 140
#: A window's scored terms' doclists total at most this many postings per K (~1.2 ms).
SCORE_WORK = 50
#: Walking the matches of a window's query touches at most about this many postings per K (~1 ms).
WALK_WORK = 50
#: A window's scored doclists plus 64 per match ranked: at most this many postings per K (~2.5 ms);
#: what is left after the doclists sets how many of the newest matches are ranked (at most K).
WINDOW_WORK = 100
#: A prefix's walk per posting against a word's: it merges the doclists of every word it expands to.
PREFIX_WEIGHT = 2
#: Postings of another word one seek of a phrase's walk costs, at most (about a doclist page's worth).
SEEK_SPAN = 120
#: The share of a word's doclist a phrase's walk parses when its seeks are dense (it skips the rest).
PHRASE_WALK_SHARE = 0.5
#: A phrase's position comparisons per entry of its rarest word, in postings.
POSITION_WEIGHT = 2
#: Of the entries holding all the words of a phrase, the share holding them in order (measured
#: 0.03-0.13 on Zipf text): too low costs an exact ranking's capped attempt; too high, a window.
PHRASE_ADJACENCY = 0.15
#: A word's probe is reused while the store has grown by at most this many entries, or this share.
PROBE_REUSE_ENTRIES = 64
PROBE_REUSE_SHARE = 0.005
#: In an "any" search, a term in at least this share of the entries is dropped (when others remain).
COMMON_TERM_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Frequency:
    """A term's newest postings, as probed: how many of the newest ``depth`` exist, the oldest's rowid."""

    count: int
    oldest: int

    def postings(self, depth: int, max_id: int) -> float:
        """The term's doclist length: exact below ``depth``, else from the span its newest ``depth`` cover."""
        if self.count < depth:
            return float(self.count)
        return depth * max_id / max(1, max_id - self.oldest + 1)


def units(term: Term) -> list[Term]:
    """What is probed for a term: a word or prefix itself, each word of a phrase."""
    if term.prefix or " " not in term.text:
        return [term]
    return [Term(word) for word in dict.fromkeys(term.words)]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What to run: an exact ranking if the matches are few enough, else a window (or the newest).

    Attributes:
        terms: the query's terms (an "any" search's without its stop words): an exact ranking's query.
        exact_cap: an exact ranking is within the budget for at most this many matches (0: never).
        matches: how many entries match ``terms``, estimated (exact for one word or prefix).
        expression: what a window's or the newest matches hold (every term of an "all" search;
            the scored ones of an "any" search).
        scored: the terms BM25 ranks a window with (empty: the newest matches, unranked).
        lower: a window looks at no match below this rowid (0: the whole index).
        window: how many of the newest matches a window ranks (K, or fewer after costly doclists).
    """

    terms: list[Term]
    exact_cap: int
    matches: float
    expression: list[Term]
    scored: list[Term]
    lower: int
    window: int

    @property
    def deferred(self) -> bool:
        """Some terms of the window's expression filter without scoring."""
        return set(self.scored) != set(self.expression)


def plan_search(
    found: Sequence[Term],
    frequencies: Mapping[Term, Frequency],
    *,
    match: Literal["all", "any"],
    candidates: int,
    depth: int,
    max_id: int,
) -> SearchPlan:
    """The plan for ``found`` given each unit's probed frequency (see the module's docstring)."""
    n = max(1, max_id)

    def cost(term: Term) -> float:
        if term.prefix:
            return PREFIX_WEIGHT * frequencies[term].postings(depth, n)
        # FTS5 walks a phrase from its rarest word and seeks in the others' doclists (a word
        # repeated in the phrase is walked once per place); a seek still parses postings it
        # skips, so a word costs about half its doclist unless the rarest is sparse enough for
        # the seeks to skip pages; and each entry holding them all has its positions compared.
        # Fitted on phrases at 1M entries: within 20% of plain FTS5's time for six of six.
        found = [frequencies[Term(word)].postings(depth, n) for word in term.words]
        if len(found) == 1:
            return found[0]
        rarest = min(found)
        walked = sum(min(PHRASE_WALK_SHARE * postings, SEEK_SPAN * rarest) for postings in found)
        return walked + POSITION_WEIGHT * rarest

    terms = list(found)
    if match == "any" and len(terms) > 1:
        # Stop words: they add little to BM25 and, in an OR, make every entry a match.
        # Only a term with at least ``depth`` postings counts: a small store has no stop words.
        kept = [term for term in terms if cost(term) < depth or cost(term) / n < COMMON_TERM_SHARE]
        terms = kept or terms
    total = sum(cost(term) for term in terms)
    exact_budget = EXACT_WORK * candidates
    exact_cap = int((exact_budget - total) // RANK_WEIGHT) if total <= exact_budget else 0
    # The window: score the cheapest terms that fit, filter by the rest.
    pieces: list[Term] = []
    for term in terms:
        # A phrase too frequent to score whole can still be scored by its rarer words.
        whole = cost(term) <= SCORE_WORK * candidates or match == "any"
        pieces.extend([term] if whole else units(term))
    scored: list[Term] = []
    spent = 0.0
    for piece in sorted(dict.fromkeys(pieces), key=cost):
        if spent + cost(piece) > SCORE_WORK * candidates:
            break
        scored.append(piece)
        spent += cost(piece)
    expression, walked = terms, total
    if match == "any" and scored:
        expression, walked = scored, spent  # an OR of the affordable terms: the others are dropped
    # A window walks only the newest span in which its expression's postings fit WALK_WORK.
    walk = WALK_WORK * candidates
    lower = 0 if walked <= walk else max(0, int(max_id - walk * n / walked))
    window = max(1, min(candidates, int((WINDOW_WORK * candidates - spent) // RANK_WEIGHT)))
    matches = _matches(terms, frequencies, match, depth, n)
    return SearchPlan(terms, exact_cap, matches, expression, scored, lower, window)


def _matches(
    terms: Sequence[Term], frequencies: Mapping[Term, Frequency], match: Literal["all", "any"], depth: int, n: int
) -> float:
    """How many entries match, estimated as if words were independent (exact for one word)."""
    shares = []
    for term in terms:
        found = [frequencies[unit].postings(depth, n) / n for unit in units(term)]
        share = found[0] if len(found) == 1 else PHRASE_ADJACENCY * math.prod(found)
        shares.append(min(1.0, share))
    if match == "any":
        return n * min(1.0, sum(shares))
    return n * math.prod(shares)


def without_probes(found: Sequence[Term], *, candidates: int, depth: int, max_id: int) -> SearchPlan | None:
    """The exact plan, when the store is too small for any query to exceed the budget; else None.

    No word can then have more postings than there are entries, nor ``depth`` of them (so no
    stop word is dropped either): probing the frequencies would only confirm it, at the cost
    of a statement with a MATCH per word.
    """
    words = sum(len(units(term)) for term in found)
    if max_id >= depth or words * max_id + RANK_WEIGHT * max_id > EXACT_WORK * candidates:
        return None
    terms = list(found)
    return SearchPlan(terms, max(1, max_id), 0.0, terms, terms, 0, candidates)


class ProbeCache:
    """Recent probes of words' frequencies, reused while the store has grown little since.

    A neuron's recall searches repeat most words of the request before it, and a probe is a
    MATCH per word. A reused probe only steers the plan: an exact ranking still ranks every
    match and a window reaches at most the entries added since; deletes clear the cache.
    Used only on the event loop.

    Args:
        capacity: most words kept.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._probes: LRUCache[tuple[Term, int], tuple[Frequency, int]] = LRUCache(capacity)

    def recall(self, probed: Sequence[Term], depth: int, max_id: int) -> dict[Term, Frequency]:
        """The still-fresh probes of ``probed`` at ``depth`` (the others are missing)."""
        fresh = max(PROBE_REUSE_ENTRIES, int(max_id * PROBE_REUSE_SHARE))
        found = {}
        for unit in probed:
            hit = self._probes.get((unit, depth))
            if hit is not None and 0 <= max_id - hit[1] <= fresh:
                found[unit] = hit[0]
        return found

    def keep(self, probed: Mapping[Term, Frequency], depth: int, max_id: int) -> None:
        """Remember probes made when the highest id was ``max_id``."""
        for unit, frequency in probed.items():
            self._probes.put((unit, depth), (frequency, max_id))

    def clear(self) -> None:
        """Forget every probe (entries were deleted: counts may have shrunk)."""
        self._probes.clear()
