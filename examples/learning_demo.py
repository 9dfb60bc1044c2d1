"""Learning from feedback: a neuron fails a task set, gets a lesson in its prompt, and then passes it.

Run it:  python examples/learning_demo.py
Its test: examples/test_learning_demo.py (run with pytest).

The "model" is scripted and deterministic: it answers unit conversions with the bare number,
unless its system prompt carries a lesson about units. A grader checks each answer and sends
the verdict as feedback; the learning service turns the failures into an error gradient, the
neuron's LLM writes a lesson, the lesson joins the prompt, and the next round is judged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import anyio

from hal9 import Config, Layer, LLMResponse, Runtime, ToolSpec, Turn
from hal9.config import LearningConfig
from hal9.learning import LearningService
from hal9.llm import MockLLM
from hal9.neurons import ImplementationNeuron


@dataclass(frozen=True)
class Task:
    question: str
    answer: str  # the number and its unit: what the grader expects


TASKS = (
    Task("Convert 3 km to metres.", "3000 m"),
    Task("Convert 2 hours to minutes.", "120 min"),
    Task("Convert 5 kg to grams.", "5000 g"),
    Task("Convert 1.5 litres to millilitres.", "1500 ml"),
    Task("Convert 4 minutes to seconds.", "240 s"),
)
LESSON = "Always give the unit with every number you answer."

_system: ContextVar[str] = ContextVar("system", default="")


class LessonFollowingLLM(MockLLM):
    """A scripted model that follows its system prompt: it states units only once a lesson says so.

    Asked for a lesson (the learning service's request), it writes :data:`LESSON`.
    """

    async def complete(
        self,
        *,
        system: str,
        prompt: str,
        layer: Layer | None = None,
        max_tokens: int | None = None,
        tools: Sequence[ToolSpec] = (),
        history: Sequence[Turn] = (),
    ) -> LLMResponse:
        token = _system.set(system)  # per task: concurrent calls each see their own system prompt
        try:
            return await super().complete(
                system=system, prompt=prompt, layer=layer, max_tokens=max_tokens, tools=tools, history=history
            )
        finally:
            _system.reset(token)

    def reply_for(self, prompt: str, layer: Layer | None, tool_round: int = 0) -> str:
        if "Write the new lesson." in prompt:
            return json.dumps({"lesson": LESSON})
        for task in TASKS:
            if task.question in prompt:
                # The lessons are the prompt's "- " lines: one about units makes it state them.
                lessons = [line for line in _system.get().splitlines() if line.startswith("- ")]
                return task.answer if any("unit" in line for line in lessons) else task.answer.split()[0]
        return "I do not know."


def grade(task: Task, output: object) -> bool:
    """The deterministic grader: the answer must be the number with its unit."""
    return str(output).strip() == task.answer


async def run_round(runtime: Runtime, learning: LearningService) -> float:
    """Ask every task, then grade the round and send each verdict as feedback; the share answered right."""
    results = [await runtime.ask(task.question) for task in TASKS]
    right = 0
    for task, result in zip(TASKS, results, strict=True):
        correct = result.ok and grade(task, result.outputs[0])
        learning.feedback(result.id, score=1.0 if correct else 0.0, comment=None if correct else "unit missing")
        right += correct
    # Lessons are written in the background: wait for them before the next round.
    await learning.wait_idle()
    return right / len(TASKS)


@dataclass(frozen=True)
class DemoResult:
    before: float  # effectiveness after the first round
    after: float  # effectiveness after the second
    lessons: list[tuple[str, str]]  # (text, status)
    prompt: str  # the system prompt the solver sends now


async def demo() -> DemoResult:
    llm = LessonFollowingLLM()
    # A window of one round, and one round to judge the lesson.
    learning = LearningService(LearningConfig(window=len(TASKS), evaluation_outcomes=len(TASKS)))
    solver = ImplementationNeuron("solver", prompt="You convert units. Answer with the result only.")
    config = Config(services={})  # only the services given below
    async with Runtime(config, services={"llm": llm, "learning": learning}, neurons=[solver]) as runtime:
        await run_round(runtime, learning)
        before = learning.report("solver").effectiveness or 0.0
        await run_round(runtime, learning)
        report = learning.report("solver")
    return DemoResult(
        before=before,
        after=report.effectiveness or 0.0,
        lessons=[(lesson.text, lesson.status) for lesson in report.lessons],
        prompt=learning.system_prompt("solver", solver.prompt),
    )


async def main() -> None:
    result = await demo()
    print(f"effectiveness before learning: {result.before:.0%}")
    print(f"effectiveness after learning:  {result.after:.0%}")
    for text, status in result.lessons:
        print(f"lesson ({status}): {text}")
    print("system prompt now:\n" + result.prompt)


if __name__ == "__main__":
    anyio.run(main)
