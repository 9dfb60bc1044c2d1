"""A runtime with the learning service on the built-in three-layer network and a scripted LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from hal9 import Config, Layer, Neuron, Runtime, Signal
from hal9.config import LearningConfig
from hal9.learning import LearningService
from hal9.runtime.service import Service
from hal9.testing import MockLLM, running_runtime, scripted_llm
from tests.support import Echo

#: What the scripted LLM answers when asked for a lesson (the writer's request ends so).
LESSON_TRIGGER = "Write the new lesson."
STRATEGIC, DESIGN, IMPLEMENTATION = "strategic", "design", "implementation"


def lesson_llm(lesson: str = "Always state the units of every number.", *rules: Any) -> MockLLM:
    """A mock LLM that writes ``lesson`` when asked for one, else follows ``rules`` or its templates."""
    return scripted_llm((None, LESSON_TRIGGER, f'{{"lesson": "{lesson}"}}'), *rules)


@asynccontextmanager
async def learning_runtime(
    llm: Service | None = None,
    *,
    neurons: Iterable[Neuron] | None = None,
    connections: Iterable[tuple[str, str]] = (),
    services: dict[str, Service] | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Runtime, LearningService]]:
    """A started runtime (the default network unless ``neurons`` is given) with a learning service."""
    learning = LearningService(LearningConfig(**settings))
    config = Config(server_id="test", services={})
    async with running_runtime(
        config,
        neurons=neurons,
        connections=connections,
        llm=llm if llm is not None else lesson_llm(),
        services={**(services or {}), "learning": learning},
    ) as runtime:
        yield runtime, learning


def sample(runtime: Runtime, name: str, **labels: str) -> float | None:
    return runtime.metrics.sample(name, labels)


class Failing(Neuron):
    """Raises the error named in the request; echoes other requests."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> Any:
        content = str(signal.content)
        if content.startswith("timeout"):
            raise TimeoutError("the step timed out")
        if content.startswith("bad"):
            raise ValueError(f"cannot handle {content}")
        return content


def failing_network() -> dict[str, Any]:
    """An echo at L3 in front of the failing worker."""
    return {"neurons": [Echo("front", layer=Layer.L3), Failing("worker")], "connections": [("front", "worker")]}
