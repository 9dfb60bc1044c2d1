"""SQLiteMemory on a real file: store, retrieve, recent, search (BM25, filters), forget, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from benchmarks._bm25 import Reference, agrees
from hal9.config import MemoryConfig
from hal9.memory import InvalidMemoryEntry, Memory, MemoryNotRunning, MemoryRecord, SQLiteMemory
from hal9.memory.query import terms
from hal9.memory.schema import SCHEMA_VERSION


@pytest.mark.anyio
async def test_sqlite_memory_satisfies_the_memory_protocol(memory: SQLiteMemory) -> None:
    assert isinstance(memory, Memory)


@pytest.mark.anyio
async def test_stored_entry_is_retrieved_by_id_with_all_its_fields(memory: SQLiteMemory) -> None:
    entry_id = await memory.store(
        "Use a token bucket", neuron_id="design", kind="result", layer="L3", metadata={"trace": "t1"}, importance=0.9
    )
    entry = await memory.retrieve(entry_id)
    assert entry is not None
    assert (entry.id, entry.neuron_id, entry.layer, entry.kind) == (entry_id, "design", "L3", "result")
    assert (entry.content, dict(entry.metadata), entry.importance) == ("Use a token bucket", {"trace": "t1"}, 0.9)
    assert entry.created_at == entry.last_accessed
    assert await memory.retrieve(entry_id + 1000) is None


@pytest.mark.anyio
async def test_store_creates_the_folder_and_file_in_wal_mode(memory: SQLiteMemory, db_path: Path) -> None:
    await memory.store("x", neuron_id="n")
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.anyio
async def test_recent_gives_a_neurons_newest_entries_first(memory: SQLiteMemory) -> None:
    ids = [await memory.store(f"entry {i}", neuron_id="a") for i in range(5)]
    await memory.store("someone else's", neuron_id="b")
    recent = await memory.recent("a", limit=3)
    assert [e.id for e in recent] == ids[::-1][:3]


@pytest.mark.anyio
async def test_search_ranks_by_bm25_more_occurrences_and_shorter_entries_first(memory: SQLiteMemory) -> None:
    once_long = await memory.store(
        "the cache sits in front of a database with many other words around it to make it long", neuron_id="n"
    )
    thrice = await memory.store("cache cache cache invalidation", neuron_id="n")
    once_short = await memory.store("cache invalidation", neuron_id="n")
    await memory.store("nothing relevant here", neuron_id="n")
    found = await memory.search("cache")
    assert [e.id for e in found] == [thrice, once_short, once_long]
    scores = [e.score for e in found]
    assert all(s is not None and s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]  # higher is better


@pytest.mark.anyio
async def test_search_requires_all_terms_by_default_or_any_when_asked(memory: SQLiteMemory) -> None:
    both = await memory.store("rate limiter with a token bucket", neuron_id="n")
    one = await memory.store("token ring network", neuron_id="n")
    assert [e.id for e in await memory.search("bucket token")] == [both]
    assert {e.id for e in await memory.search("bucket token", match="any")} == {both, one}


@pytest.mark.anyio
async def test_search_filters_by_neuron_kind_and_time_and_honours_the_limit(memory: SQLiteMemory) -> None:
    a_task = await memory.store("deploy the service", neuron_id="a", kind="task")
    a_result = await memory.store("deploy done", neuron_id="a", kind="result")
    b_task = await memory.store("deploy again", neuron_id="b", kind="task")
    created = {e.id: e.created_at for e in await memory.search("deploy", limit=10)}
    assert set(created) == {a_task, a_result, b_task}
    assert {e.id for e in await memory.search("deploy", neuron_id="a")} == {a_task, a_result}
    assert {e.id for e in await memory.search("deploy", kind="task")} == {a_task, b_task}
    assert {e.id for e in await memory.search("deploy", neuron_id="a", kind="task")} == {a_task}
    assert {e.id for e in await memory.search("deploy", since=created[b_task])} == {b_task}
    assert {e.id for e in await memory.search("deploy", until=created[a_result])} == {a_task}
    assert len(await memory.search("deploy", limit=2)) == 2
    assert await memory.search("deploy", limit=0) == []


@pytest.mark.anyio
async def test_search_folds_case_and_diacritics_and_supports_prefixes(memory: SQLiteMemory) -> None:
    entry_id = await memory.store("Café deployment", neuron_id="n")
    assert [e.id for e in await memory.search("CAFE")] == [entry_id]
    assert [e.id for e in await memory.search("deploy*")] == [entry_id]
    assert await memory.search("deploy") == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "*",
        "**",
        "NEAR(token bucket)",
        "content:token",
        "entries_fts:token",
        "(((",
        ")",
        "token AND OR NOT",
        "^token",
        "token\x00bucket",
        "'; DROP TABLE entries; --",
        "",
        "   ",
        "{content}: token",
        "token + - bucket",
    ],
)
async def test_hostile_query_gives_results_or_nothing_never_an_error(memory: SQLiteMemory, query: str) -> None:
    entry_id = await memory.store("token bucket", neuron_id="n")
    found = await memory.search(query, match="any")
    assert [e.id for e in found] in ([], [entry_id])
    assert await memory.retrieve(entry_id) is not None  # nothing was dropped


@pytest.mark.anyio
async def test_forget_removes_the_entry_from_store_search_and_cache(memory: SQLiteMemory) -> None:
    entry_id = await memory.store("ephemeral thought", neuron_id="n")
    assert await memory.retrieve(entry_id) is not None  # now cached
    assert await memory.forget(entry_id) is True
    assert await memory.retrieve(entry_id) is None
    assert await memory.search("ephemeral") == []
    assert await memory.forget(entry_id) is False


@pytest.mark.anyio
async def test_ids_of_forgotten_entries_are_never_reused(memory: SQLiteMemory) -> None:
    first = await memory.store("one", neuron_id="n")
    await memory.forget(first)
    assert await memory.store("two", neuron_id="n") > first


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("record", "message"),
    [
        (MemoryRecord("", "n"), "non-empty"),
        (MemoryRecord("   ", "n"), "non-empty"),
        (MemoryRecord("x" * 101, "n"), "101 characters"),
        (MemoryRecord("x", ""), "neuron_id"),
        (MemoryRecord("x", "n", kind="opinion"), "kind"),  # type: ignore[arg-type]
        (MemoryRecord("x", "n", importance=1.5), "importance"),
        (MemoryRecord("x", "n", importance=float("nan")), "importance"),
        (MemoryRecord("x", "n", metadata={"v": float("inf")}), "metadata"),
    ],
)
async def test_invalid_entries_are_refused_before_anything_is_written(
    db_path: Path, record: MemoryRecord, message: str
) -> None:
    async with SQLiteMemory(db_path, MemoryConfig(max_content_chars=100)) as memory:
        with pytest.raises(InvalidMemoryEntry, match=message):
            await memory.store_many([record])
        assert memory.commits == 0


@pytest.mark.anyio
async def test_operations_on_a_stopped_service_raise_memory_not_running(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    with pytest.raises(MemoryNotRunning):
        await memory.store("x", neuron_id="n")
    async with memory:
        pass
    with pytest.raises(MemoryNotRunning):
        await memory.search("x")
    with pytest.raises(MemoryNotRunning):
        await memory.retrieve(1)


@pytest.mark.anyio
async def test_entries_survive_a_restart_and_the_schema_is_not_migrated_twice(db_path: Path) -> None:
    async with SQLiteMemory(db_path) as memory:
        entry_id = await memory.store("persistent", neuron_id="n")
    async with SQLiteMemory(db_path) as memory:
        entry = await memory.retrieve(entry_id)
        assert entry is not None
        assert entry.content == "persistent"
        assert memory.entry_counts.by_neuron == {"n": 1}


@pytest.mark.anyio
async def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="schema version"):
        async with SQLiteMemory(db_path):
            pass


@pytest.mark.anyio
async def test_retrieve_counts_accesses_and_writes_them_back(db_path: Path) -> None:
    async with SQLiteMemory(db_path) as memory:
        entry_id = await memory.store("looked at", neuron_id="n")
        for _ in range(3):
            await memory.retrieve(entry_id)
    with sqlite3.connect(db_path) as connection:
        (count,) = connection.execute("SELECT access_count FROM entries WHERE id = ?", (entry_id,)).fetchone()
    assert count == 3


@pytest.mark.anyio
async def test_concurrent_searches_and_stores_do_not_interfere(memory: SQLiteMemory) -> None:
    """A search never sees a half-written batch: every entry it finds can be retrieved."""
    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(lambda i=i: memory.store(f"parallel item {i}", neuron_id="n"))
        for _ in range(10):
            tg.start_soon(lambda: memory.search("parallel"))
    assert len(await memory.search("parallel", limit=100)) == 50


@pytest.mark.anyio
async def test_a_frequent_word_whose_best_match_is_old_is_found_the_exact_top_10(db_path: Path) -> None:
    """3,000 entries hold the word; the best ones are the oldest. The top 10 is BM25's, by brute force."""
    async with SQLiteMemory(db_path) as memory:
        texts = [
            f"memory about {'deadline ' * (1 + i % 7 if i < 12 else 1)}item{i} " + "padding " * (i % 5)
            for i in range(3000)
        ]
        ids = await memory.store_many([MemoryRecord(text, "n") for text in texts])
        reference = Reference()
        reference.add_all(zip(ids, texts, strict=True))
        for query, match in (
            ("deadline", "all"),
            ("deadline item7", "any"),
            ("deadl*", "all"),
            ('"about deadline"', "all"),
        ):
            found = await memory.search(query, match=match)  # type: ignore[arg-type]
            exact = reference.top(terms(query), match)  # type: ignore[arg-type]
            assert agrees([(e.id, e.score or 0.0) for e in found], exact), query
        best = await memory.search("deadline", limit=1)
        assert best[0].id in ids[:12]  # among the oldest entries: no window of the newest


@pytest.mark.anyio
async def test_an_any_search_ranks_a_rare_word_above_a_common_one(memory: SQLiteMemory) -> None:
    rare = await memory.store("the rare zebra", neuron_id="n")
    ordinary = [await memory.store(f"the ordinary entry {i}", neuron_id="n") for i in range(30)]
    found = await memory.search("the zebra", match="any", limit=3)
    assert found[0].id == rare
    assert {e.id for e in found[1:]} <= set(ordinary)


@pytest.mark.anyio
async def test_words_in_paired_quotes_are_a_phrase_and_an_unpaired_quote_is_text(memory: SQLiteMemory) -> None:
    in_order = await memory.store("use a token bucket here", neuron_id="n")
    reversed_ = await memory.store("a bucket of token coins", neuron_id="n")
    assert [e.id for e in await memory.search('"token bucket"')] == [in_order]
    assert {e.id for e in await memory.search("token bucket")} == {in_order, reversed_}
    assert {e.id for e in await memory.search('"token bucket')} == {in_order, reversed_}


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["three", "tenth", "every", "tenth every", "three*"])
async def test_a_filter_that_keeps_everything_gives_the_unfiltered_answer(db_path: Path, query: str) -> None:
    """A filter restricts which entries match; it never changes their scores."""
    async with SQLiteMemory(db_path) as memory:
        for i in range(60):
            words = ["every", "tenth" * (i % 10 == 0), "three" * (i in (3, 13, 23))]
            await memory.store(" ".join(w for w in words if w) + f" item{i}" * (1 + i % 4), neuron_id="n")
        for match in ("all", "any"):
            plain = await memory.search(query, match=match, limit=7)  # type: ignore[arg-type]
            filtered = await memory.search(query, match=match, limit=7, neuron_id="n")  # type: ignore[arg-type]
            assert [(e.id, e.score) for e in plain] == [(e.id, e.score) for e in filtered]
            assert plain
