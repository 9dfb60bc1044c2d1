"""Where a search runs: a small one on the event loop, a large one in a worker thread, with one answer."""

from __future__ import annotations

import anyio.to_thread
import pytest

from hal9.memory import SQLiteMemory, reads
from hal9.memory.index import UNBOUNDED
from hal9.memory.query import terms

pytestmark = pytest.mark.anyio

TEXTS = [f"deploy the {word} service to staging, then check the {word} logs" for word in ("api", "web", "queue")] + [
    "rotate the api keys of the staging cluster",
    "the web service answers slowly after a deploy",
]
QUERIES = ["deploy api", "staging logs", "api", "deploy*", '"web service"', "nothing matches this"]


async def _answers(memory: SQLiteMemory) -> list[list[tuple[int, float | None]]]:
    return [[(e.id, e.score) for e in await memory.search(q, match="any")] for q in QUERIES]


async def test_a_search_answers_the_same_on_the_loop_and_in_a_worker_thread(
    memory: SQLiteMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in TEXTS:
        await memory.store(text, neuron_id="n")
    await memory.wait_searchable()  # the index's own refresh is not a search's hop
    threads: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: object, *args: object, **kwargs: object) -> object:
        threads.append(function)
        return await run_sync(function, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    small = await _answers(memory)
    inline_hops = len(threads)
    monkeypatch.setattr(reads, "INLINE_POSTINGS", -1)  # every search is "large" now
    large = await _answers(memory)
    assert small == large
    assert any(small), "the queries found nothing: the comparison proves nothing"
    # Only the prefix and the phrase (their work unknown before they run) took a thread before;
    # now every query with words does.
    assert inline_hops == 2
    assert len(threads) - inline_hops == len(QUERIES)


async def test_the_cost_of_a_search_is_its_words_postings_and_unbounded_for_prefixes_and_phrases(
    memory: SQLiteMemory,
) -> None:
    for text in TEXTS:
        await memory.store(text, neuron_id="n")
    await memory.wait_searchable()
    index = memory._index
    assert index is not None
    assert index.plan(terms("api"), "any")[1] == 2
    assert index.plan(terms("api web"), "all")[1] == 4
    assert index.plan(terms("deploy*"), "any")[1] == UNBOUNDED
    assert index.plan(terms('"web service"'), "any")[1] == UNBOUNDED
