"""Neurons with a memory service: results, errors and the tasks no result holds are stored; prompts recall them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hal9 import Layer, Neuron, Runtime, Signal
from hal9.config import MemoryConfig
from hal9.memory import MemoryRecord, SQLiteMemory
from hal9.neurons import ImplementationNeuron
from hal9.testing import scripted_llm
from tests.support import Boom, Echo, config


@pytest.mark.anyio
async def test_each_processed_signal_stores_its_result_and_the_request_its_task(db_path: Path) -> None:
    """The second neuron's task is the first one's output, stored already as its result: it is not stored twice."""
    memory = SQLiteMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("first"), Echo("second")])
    runtime.connect("first", "second")
    async with runtime:
        result = await runtime.ask("remember me")
        assert result.ok
        # The trace waits for its stores, so everything is there once the request has finished.
        stored = {neuron_id: await memory.recent(neuron_id) for neuron_id in ("first", "second")}
        first = sorted((e.kind, e.content) for e in stored["first"])
        assert first == [("result", "remember me"), ("task", "remember me")]
        assert [(e.kind, e.content) for e in stored["second"]] == [("result", "remember me")]
        for entries in stored.values():
            assert all(e.metadata["trace_id"] == result.id for e in entries)
            assert {e.layer for e in entries} == {"L2"}
    assert runtime.metrics.sample("hal9_memory_entries_total", {"neuron_id": "first"}) == 2
    assert runtime.metrics.sample("hal9_memory_entries_total", {"neuron_id": "second"}) == 1
    assert runtime.metrics.sample("hal9_memory_entries_total", {"neuron_id": "other"}) == 0


@pytest.mark.anyio
async def test_a_failed_signal_stores_its_task_and_the_error(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    async with Runtime(config(), services={"memory": memory}, neurons=[Boom("boom")]) as runtime:
        assert (await runtime.ask("bad input")).status == "failed"
        entries = await memory.recent("boom")
    assert sorted(e.kind for e in entries) == ["error", "task"]
    (error,) = [e for e in entries if e.kind == "error"]
    assert error.content == "ValueError: cannot handle bad input"


class Silent(Neuron):
    """Ends its branch (returns None): a task without a result."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> Any:
        return None


@pytest.mark.anyio
async def test_a_signal_with_no_output_stores_only_its_task(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    async with Runtime(config(), services={"memory": memory}, neurons=[Silent("silent")]) as runtime:
        await runtime.ask("quiet")
        assert [e.kind for e in await memory.recent("silent")] == ["task"]


class Forgetful(Echo):
    def memories(self, signal: Signal, output: Any, error: Exception | None) -> list[MemoryRecord]:
        raise RuntimeError("disk on fire")


@pytest.mark.anyio
async def test_a_failing_remember_does_not_fail_the_signal(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    async with Runtime(config(), services={"memory": memory}, neurons=[Forgetful("f")]) as runtime:
        result = await runtime.ask("x")
    assert result.ok
    assert list(result.outputs) == ["x"]


@pytest.mark.anyio
async def test_llm_prompt_includes_the_neurons_most_relevant_memories_bounded(db_path: Path) -> None:
    llm = scripted_llm(
        (None, "rate limiter", "For a rate limiter use a token bucket per client"), (None, None, "Something else")
    )
    memory = SQLiteMemory(db_path, MemoryConfig())
    neuron = ImplementationNeuron("impl")
    async with Runtime(config(), services={"llm": llm, "memory": memory}, neurons=[neuron]) as runtime:
        await memory.store("x" * 5000 + " limiter", neuron_id="impl", kind="lesson")  # long: cut in the prompt
        await memory.wait_searchable()  # recall sees the index as it is
        await runtime.ask("Write a rate limiter")
        await runtime.ask("Unrelated question about gardening")
        await memory.wait_searchable()
        await runtime.ask("Improve the rate limiter")
    first, unrelated, second = llm.calls
    assert first.prompt.startswith("Relevant memories")  # the long lesson
    assert "Write a rate limiter" not in first.prompt.split("Request:")[0]
    assert "Relevant memories" not in unrelated.prompt
    recalled = second.prompt.split("Request:")[0]
    assert "For a rate limiter use a token bucket per client" in recalled
    assert "Write a rate limiter" in recalled
    assert second.prompt.endswith("Request:\nImprove the rate limiter")
    assert len(recalled) <= neuron.memory_chars + 200
    assert len(first.prompt) < 2000


@pytest.mark.anyio
async def test_without_a_memory_service_prompts_are_unchanged(db_path: Path) -> None:
    llm = scripted_llm()
    async with Runtime(config(), services={"llm": llm}, neurons=[ImplementationNeuron("impl")]) as runtime:
        await runtime.ask("Write a rate limiter")
        await runtime.ask("Write a rate limiter")
    assert [c.prompt for c in llm.calls] == ["Write a rate limiter"] * 2
