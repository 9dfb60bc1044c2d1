"""One recall per request: the first neuron of a request searches, the neurons after it share the entries."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from hal9 import MockLLM, Runtime
from hal9.config import Config, MemoryConfig
from hal9.memory import SQLiteMemory
from hal9.memory.recall import SharedRecall
from hal9.runtime.memory import MemoryEntry, RequestRecall

SEARCHES = "hal9_memory_operation_duration_seconds_count"


def searches(runtime: Runtime) -> float:
    return runtime.metrics.sample(SEARCHES, {"operation": "search"}) or 0.0


def default_network(memory: SQLiteMemory) -> Runtime:
    return Runtime(Config(server_id="t", services={"llm": "hal9.llm:LLMService"}), services={"memory": memory})


@pytest.mark.anyio
async def test_a_request_through_the_default_network_searches_memory_once(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "hal9.db", MemoryConfig())
    assert isinstance(memory, RequestRecall)
    async with default_network(memory) as runtime:
        await memory.store("a token bucket per client for the rate limiter", neuron_id="implementation", kind="lesson")
        await memory.wait_searchable()
        first = await runtime.ask("Build a rate limiter for the public HTTP API of the service")
        assert searches(runtime) == 1
        second = await runtime.ask("Improve the rate limiter for the public HTTP API of the service")
        assert searches(runtime) == 2
        assert len(memory._recalls) == 0  # each request's recall is dropped when it ends
    assert first.ok
    assert second.ok
    # Seven LLM calls a request (one L4, three L3, three L2), one search.
    assert len(first.path) == len(second.path) == 7


@pytest.mark.anyio
async def test_every_neuron_on_the_path_gets_the_shared_memories_its_own_first(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "hal9.db", MemoryConfig())
    async with default_network(memory) as runtime:
        await memory.store("rate limiter: a token bucket per client", neuron_id="implementation", kind="lesson")
        await memory.store("rate limiter: plan for bursts", neuron_id="strategic", kind="lesson")
        await memory.wait_searchable()  # recall sees the index as it is
        await runtime.ask("Build a rate limiter for the public HTTP API of the service")
        llm = runtime.services.require(MockLLM)
        prompts = {call.layer.value: call.prompt for call in llm.calls if call.layer is not None}
    implementation = prompts["L2"].split("Request:")[0]
    strategic = prompts["L4"].split("Request:")[0]
    assert implementation.index("token bucket") < implementation.index("plan for bursts")
    assert strategic.index("plan for bursts") < strategic.index("token bucket")


def entry(entry_id: int) -> MemoryEntry:
    return MemoryEntry(entry_id, "n", None, "task", f"entry {entry_id}", {}, 0.5, 0.0, 0.0, 0)


@pytest.mark.anyio
async def test_concurrent_callers_of_one_trace_wait_for_the_one_search() -> None:
    release = anyio.Event()
    queries: list[str] = []

    async def search(query: str, limit: int) -> list[MemoryEntry]:
        queries.append(query)
        await release.wait()
        return [entry(1), entry(2)][:limit]

    recall = SharedRecall(search)
    results: list[list[MemoryEntry]] = []

    async def one(query: str) -> None:
        results.append(await recall.recall(query, "trace-1", 10))

    async with anyio.create_task_group() as tg:
        for query in ("first", "second", "third"):
            tg.start_soon(one, query)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert queries == ["first"]
    assert results == [[entry(1), entry(2)]] * 3
    assert [e.id for e in await recall.recall("other trace", "trace-2", 1)] == [1]
    recall.forget("trace-1")
    recall.forget("trace-2")
    assert len(recall) == 0


@pytest.mark.anyio
async def test_a_failed_search_is_not_shared_and_the_traces_kept_are_bounded() -> None:
    calls = 0

    async def search(query: str, limit: int) -> list[MemoryEntry]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk on fire")
        return [entry(calls)]

    recall = SharedRecall(search, max_traces=2)
    with pytest.raises(RuntimeError):
        await recall.recall("q", "t1", 5)
    assert len(recall) == 0
    assert await recall.recall("q", "t1", 5) == [entry(2)]  # searched again
    await recall.recall("q", "t2", 5)
    await recall.recall("q", "t3", 5)
    assert len(recall) == 2  # t1 dropped first
    assert await recall.recall("q", "t1", 5) == [entry(5)]
