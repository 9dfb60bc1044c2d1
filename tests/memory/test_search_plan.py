"""The search plan: exact BM25 when the work fits, a window scored by the affordable terms, the newest."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from hal9.config import MemoryConfig
from hal9.memory import MemoryRecord, SQLiteMemory
from hal9.memory.plan import EXACT_WORK, RANK_WEIGHT, SCORE_WORK, Frequency, plan_search, without_probes
from hal9.memory.query import Term, fts_query, terms

VOCABULARY = [f"w{rank}x" for rank in range(400)]


def zipf_texts(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
    return [" ".join(rng.choices(VOCABULARY, weights, k=rng.randint(8, 24))) for _ in range(count)]


def full_bm25(path: Path, query: str, limit: int = 10) -> list[tuple[int, float]]:
    """FTS5's own full ranking, ties by rowid: what an exact plan must return."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT rowid, bm25(entries_fts) FROM entries_fts WHERE entries_fts MATCH ?"
            " ORDER BY bm25(entries_fts), rowid LIMIT ?",
            (fts_query(query), limit),
        ).fetchall()
    return [(int(rowid), float(score)) for rowid, score in rows]


@pytest.mark.anyio
async def test_every_query_class_within_the_budget_is_the_full_bm25_ranking(db_path: Path) -> None:
    """2,000 entries, K = 1,000: every plan is exact, so ids, order and scores equal FTS5's full ranking."""
    queries = ["w300x", "w40x", "w0x", "w3x w90x", "w1x w2x", "w1*", "w2*", '"w0x w1x"', '"w5x w0x"', "w399x w0x"]
    async with SQLiteMemory(db_path) as memory:
        await memory.store_many([MemoryRecord(text, "n") for text in zipf_texts(2_000)])
        for query in queries:
            found = await memory.search(query, limit=10)
            expected = full_bm25(db_path, query)
            assert [e.id for e in found] == [rowid for rowid, _ in expected], query
            assert [e.score for e in found] == pytest.approx([score for _, score in expected]), query
            assert found, query


@pytest.mark.anyio
async def test_a_window_filters_by_a_frequent_word_and_scores_by_the_rare_one(db_path: Path) -> None:
    """K = 10: "every" (600 entries) is over the scoring budget, so it filters and "third" ranks."""
    async with SQLiteMemory(db_path, MemoryConfig(search_candidates=10)) as memory:
        texts = [f"every {'third ' * (1 + i % 2) if i % 3 == 0 else ''}item{i}" for i in range(600)]
        ids = await memory.store_many([MemoryRecord(text, "n") for text in texts])
        both = [entry_id for entry_id, text in zip(ids, texts, strict=True) if "third" in text]
        found = await memory.search("every third", limit=5)
        assert {e.id for e in found} <= set(both[-10:])  # the window: the newest K matches
        scored_alone = dict(full_bm25(db_path, "third", limit=1000))
        assert [e.score for e in found] == [pytest.approx(scored_alone[e.id]) for e in found]
        assert [e.score for e in found] == sorted(e.score for e in found if e.score is not None)
        assert all("every" in e.content and "third" in e.content for e in found)


@pytest.mark.anyio
async def test_a_phrase_of_frequent_words_looks_only_at_the_newest_span(db_path: Path) -> None:
    """K = 5: the phrase's words are in every entry, too many to walk: only the newest span is searched."""
    async with SQLiteMemory(db_path, MemoryConfig(search_candidates=5)) as memory:
        texts = [("red green" if i in (3, 590) else "green red") + f" n{i}" for i in range(600)]
        ids = await memory.store_many([MemoryRecord(text, "n") for text in texts])
        found = await memory.search('"red green"', limit=10)
        assert [e.id for e in found] == [ids[590]]  # the old match is outside the span
        assert found[0].score is None


def frequencies(**postings: int) -> dict[Term, Frequency]:
    """Frequencies as a probe of depth 1,000 over 1,000,000 entries would report them."""
    depth, n = 1_000, 1_000_000
    out = {}
    for word, count in postings.items():
        # A probe that found ``depth`` postings reports the oldest: the span they cover gives the count.
        oldest = n - int(depth * n / count) + 1 if count >= depth else 0
        out[Term(word)] = Frequency(min(count, depth), oldest)
    return out


def plan(query: str, match: str = "all", **postings: int):  # type: ignore[no-untyped-def]
    return plan_search(
        terms(query), frequencies(**postings), match=match, candidates=1_000, depth=1_000, max_id=1_000_000
    )  # type: ignore[arg-type]


def test_cheap_terms_may_be_ranked_exactly_up_to_the_cap() -> None:
    result = plan("rare mid", rare=500, mid=20_000)
    assert result.exact_cap == (EXACT_WORK * 1_000 - 20_500) // RANK_WEIGHT
    assert result.matches == pytest.approx(500 * 20_000 / 1_000_000, rel=0.01)
    assert result.scored == result.expression == terms("rare mid")


def test_a_frequent_word_filters_without_scoring_and_bounds_the_walk() -> None:
    result = plan("the zebra", the=900_000, zebra=3_000)
    assert result.exact_cap == 0
    assert result.scored == [Term("zebra")]
    assert result.deferred
    assert 0 < result.lower < 1_000_000


def test_a_phrase_too_frequent_to_score_whole_is_scored_by_its_rarer_word() -> None:
    result = plan('"the zebra"', the=900_000, zebra=SCORE_WORK * 1_000 // 2)
    assert result.scored == [Term("zebra")]
    assert result.expression == terms('"the zebra"')


def test_only_words_too_frequent_to_score_give_the_newest_matches() -> None:
    assert plan("the a", the=900_000, a=800_000).scored == []


def test_an_any_search_drops_stop_words_and_words_it_cannot_score() -> None:
    result = plan("the zebra okapi", "any", the=900_000, zebra=3_000, okapi=1_000)
    assert result.terms == [Term("zebra"), Term("okapi")]
    assert plan("the a", "any", the=900_000, a=800_000).terms == [Term("the"), Term("a")]


def test_a_store_too_small_to_exceed_the_budget_is_ranked_exactly_without_probing() -> None:
    small = without_probes(terms("any words at all"), candidates=1_000, depth=250, max_id=200)
    assert small is not None
    assert small.exact_cap >= 200  # every entry could match and still be ranked
    assert without_probes(terms("any words"), candidates=1_000, depth=250, max_id=250) is None


@pytest.mark.anyio
async def test_a_reused_probe_still_ranks_the_entries_stored_since_and_a_delete_drops_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search soon after another reuses its word probes (no probe statement); the answer is still exact."""
    async with SQLiteMemory(db_path) as memory:
        await memory.store_many([MemoryRecord(text, "n") for text in zipf_texts(2_000)])
        await memory.search("w40x w41x")
        statements: list[str] = []
        reader = memory._read_connection
        assert reader is not None
        execute = reader.execute_fetchall

        async def spy(sql: str, parameters: object = ()) -> object:
            statements.append(sql)
            return await execute(sql, parameters)  # type: ignore[arg-type]

        monkeypatch.setattr(reader, "execute_fetchall", spy)
        newest = await memory.store("w40x w41x " * 5 + "short", neuron_id="n")
        found = await memory.search("w40x w41x", limit=10)
        assert not [sql for sql in statements if sql.startswith("SELECT ?, count(*)")]  # the probe reused
        assert found[0].id == newest
        expected = full_bm25(db_path, "w40x w41x")
        assert [e.id for e in found] == [rowid for rowid, _ in expected]
        assert await memory.forget(newest)
        await memory.search("w40x w41x")
        assert [sql for sql in statements if sql.startswith("SELECT ?, count(*)")]  # probed again
