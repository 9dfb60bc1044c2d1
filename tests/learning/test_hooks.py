"""The runtime hooks learning rests on: services see finished requests; neurons ask for their system prompt."""

from __future__ import annotations

from typing import Any

import pytest

from hal9 import Layer, Neuron, Runtime, Service, Signal, TraceResult
from hal9.testing import running_runtime
from tests.learning.helpers import learning_runtime, lesson_llm
from tests.support import Boom, Echo


class Recorder(Service):
    """Keeps what the runtime hands it."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.finished: list[TraceResult] = []

    def on_attached(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_trace_finished(self, result: TraceResult) -> None:
        self.finished.append(result)


@pytest.mark.anyio
async def test_a_service_is_attached_and_sees_each_finished_request_with_its_path() -> None:
    recorder = Recorder()
    neurons = [Echo("front", layer=Layer.L3), Boom("back", layer=Layer.L2)]
    async with running_runtime(neurons=neurons, connections=[("front", "back")], services={"rec": recorder}) as rt:
        assert recorder.runtime is rt
        ok = await rt.ask("fine")
        failed = await rt.ask("bad")
    assert [r.id for r in recorder.finished] == [ok.id, failed.id]
    assert recorder.finished[0].status == "completed"
    assert [(h.neuron_id, h.status) for h in recorder.finished[1].path] == [("front", "success"), ("back", "error")]
    assert recorder.finished[1].finished_at is not None


class Asker(Neuron):
    """A neuron of the user's own that sends its system prompt to the LLM."""

    layer = Layer.L2
    prompt = "You answer."

    async def process(self, signal: Signal) -> Any:
        return (await self.llm.complete(system=self.system_prompt(), prompt=str(signal.content))).text


@pytest.mark.anyio
async def test_without_a_learning_service_the_system_prompt_is_the_prompt() -> None:
    asker = Asker("asker")
    assert asker.system_prompt() == "You answer."  # not even in a runtime
    llm = lesson_llm()
    async with running_runtime(neurons=[asker], llm=llm) as rt:
        await rt.ask("question")
    assert [call.system for call in llm.calls] == ["You answer."]


@pytest.mark.anyio
async def test_a_users_neuron_gets_its_lessons_through_system_prompt() -> None:
    llm = lesson_llm("Answer in one word.")
    async with learning_runtime(llm, neurons=[Asker("asker")], smoothing=1.0) as (rt, learning):
        learning.feedback((await rt.ask("question")).id, score=0.0)
        await learning.wait_idle()
        llm.calls.clear()
        await rt.ask("question")
    assert [call.system for call in llm.calls] == [
        "You answer.\n\nLessons learned from earlier feedback (follow them):\n- Answer in one word."
    ]


class Recovering(Neuron):
    """Answers every request, but notes the refused tool call it recovered from on requests saying 'tool'."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> Any:
        if "tool" in str(signal.content):
            self.note_failure(PermissionError("sandbox refused the shell command"))
        return "done"


@pytest.mark.anyio
async def test_a_failure_the_neuron_recovered_from_is_learned_from_when_the_request_ends() -> None:
    neurons = [Echo("front", layer=Layer.L3), Recovering("worker")]
    async with learning_runtime(
        neurons=neurons, connections=[("front", "worker")], smoothing=1.0, threshold=0.9, pattern_threshold=1
    ) as (rt, learning):
        fine = await rt.ask("plain")
        noted = await rt.ask("use a tool")
        assert fine.ok
        assert noted.ok  # the request itself succeeded
        await learning.wait_idle()
        worker, front = learning.report("worker"), learning.report("front")
        (lesson,) = worker.lessons
        assert (lesson.pattern, lesson.source) == ("tool_refused", "llm")
        assert worker.identified == {"tool_refused": 1}
        assert worker.effectiveness == 0.5
        assert front.gradient == 0.5
        assert not learning._notes  # consumed when the request ended
    Recovering("alone").note_failure(ValueError("outside a runtime: nothing happens"))
