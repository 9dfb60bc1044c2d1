"""An exact BM25 reference, by brute force: every entry scored, the way tantivy (Lucene) defines the score.

The memory benchmark and the tests check the search index against it. It scores each
matching entry with Lucene's BM25, as tantivy computes it: k1 = 1.2, b = 0.75,
idf = ln(1 + (N - n + 0.5) / (n + 0.5)), the entry's length rounded down to the one-byte
length table, the average length exact; a phrase is scored in the field of word pairs (each
two adjacent words as one term): a phrase of two words as that pair, a longer one with the sum
of its pairs' idf and how often the pairs occur in order; a prefix stands for the first 64
words (alphabetically) that begin with it, each scored as a word.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from hal9.memory.index import KEPT_WHEN_COMMON, MAX_PREFIX_WORDS, STOP_WORDS_FROM, pairs
from hal9.memory.query import ANALYZER, Term

K1 = 1.2
B = 0.75


def _length_table() -> list[int]:
    """tantivy's (Lucene's) lengths that one byte can hold: exact up to 40, then 8 steps per doubling."""
    table = list(range(41))
    step = 2
    while len(table) < 256:
        for _ in range(8):
            table.append(table[-1] + step)
        step *= 2
    return table[:256]


LENGTHS = _length_table()


def stored_length(length: int) -> int:
    """The length the index keeps for an entry of ``length`` words (rounded down to the table)."""
    return LENGTHS[bisect.bisect_right(LENGTHS, length) - 1]


@dataclass
class Field:
    """One field's terms per entry and the statistics BM25 needs, held in memory."""

    docs: dict[int, list[str]] = field(default_factory=dict)
    frequency: Counter[str] = field(default_factory=Counter)
    postings: dict[str, set[int]] = field(default_factory=dict)
    tokens: int = 0

    def add(self, entry_id: int, terms: list[str]) -> None:
        self.docs[entry_id] = terms
        self.tokens += len(terms)
        for term in set(terms):
            self.frequency[term] += 1
            self.postings.setdefault(term, set()).add(entry_id)

    def _idf(self, term: str) -> float:
        n = self.frequency.get(term, 0)
        return math.log(1 + (len(self.docs) - n + 0.5) / (n + 0.5))

    def scores(self, sequence: list[str]) -> dict[int, float]:
        """BM25 of the terms in order (one term, or a phrase of several), for every entry holding it."""
        idf = sum(self._idf(term) for term in sequence)
        candidates = set.intersection(*(self.postings.get(term, set()) for term in sequence))
        average = self.tokens / len(self.docs)
        found = {}
        for entry_id in candidates:
            doc = self.docs[entry_id]
            size = len(sequence)
            if size == 1:
                tf = doc.count(sequence[0])
            else:
                tf = sum(1 for i in range(len(doc) - size + 1) if doc[i : i + size] == sequence)
            if tf:
                norm = K1 * (1 - B + B * stored_length(len(doc)) / average)
                found[entry_id] = idf * (1 + K1) * tf / (tf + norm)
        return found


@dataclass
class Reference:
    """The entries' words and word pairs, as the index holds them."""

    words: Field = field(default_factory=Field)
    pairs: Field = field(default_factory=Field)

    def add(self, entry_id: int, text: str) -> None:
        words = ANALYZER.analyze(text)
        self.words.add(entry_id, words)
        self.pairs.add(entry_id, pairs(words))

    def add_all(self, entries: Iterable[tuple[int, str]]) -> None:
        for entry_id, text in entries:
            self.add(entry_id, text)

    def without_common(self, found: Sequence[Term], share: float) -> list[Term]:
        """The terms as recall keeps them: without the words in over ``share`` of the entries (see the index)."""
        total = len(self.words.docs)
        if total < STOP_WORDS_FROM:
            return list(found)
        words = [term for term in found if not term.prefix and " " not in term.text]
        frequency = {term: self.words.frequency.get(term.text, 0) for term in words}
        common = {term for term in words if frequency[term] > share * total}
        if common and len(common) == len([term for term in words if frequency[term] > 0]):
            common -= set(sorted(common, key=lambda term: frequency[term])[:KEPT_WHEN_COMMON])
        return [term for term in found if term not in common]

    def expand(self, prefix: str) -> list[str]:
        """The words a prefix stands for: the first 64 that begin with it, alphabetically."""
        return sorted(word for word in self.words.frequency if word.startswith(prefix))[:MAX_PREFIX_WORDS]

    def _term_scores(self, term: Term) -> dict[int, float]:
        if term.prefix:
            total: Counter[int] = Counter()
            for word in self.expand(term.text):
                for entry_id, score in self.words.scores([word]).items():
                    total[entry_id] += score  # type: ignore[assignment]
            return dict(total)
        if len(term.words) == 1:
            return self.words.scores(term.words)
        return self.pairs.scores(pairs(term.words))

    def top(self, found: Sequence[Term], match: Literal["all", "any"], limit: int = 10) -> list[tuple[int, float]]:
        """The exact top ``limit`` as ``(id, score)``, highest first, ties by id."""
        per_term = [self._term_scores(term) for term in found]
        if not per_term:
            return []
        if match == "all":
            ids = set.intersection(*(set(scores) for scores in per_term))
        else:
            ids = set().union(*(set(scores) for scores in per_term))
        totals = [(entry_id, sum(scores.get(entry_id, 0.0) for scores in per_term)) for entry_id in ids]
        totals.sort(key=lambda pair: (-pair[1], pair[0]))
        return totals[:limit]


def agrees(ours: Sequence[tuple[int, float]], exact: Sequence[tuple[int, float]], tolerance: float = 1e-4) -> bool:
    """Whether a top list is the exact one: the same scores rank by rank, the same ids but among ties.

    The index computes in 32-bit floats, the reference in 64-bit: scores agree within
    ``tolerance`` (relative), and entries whose scores tie at the cut may be either.
    """
    if len(ours) != len(exact):
        return False
    for (_, mine), (_, theirs) in zip(ours, exact, strict=True):
        if abs(mine - theirs) > tolerance * max(1.0, abs(theirs)):
            return False
    cut = exact[-1][1] if exact else 0.0
    sure = {entry_id for entry_id, score in exact if score - cut > tolerance * max(1.0, abs(cut))}
    return sure <= {entry_id for entry_id, _ in ours}
