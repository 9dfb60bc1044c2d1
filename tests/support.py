"""Small neurons and helpers shared by the runtime tests (synchronised on events, never on sleeps)."""

from __future__ import annotations

from typing import Any

import anyio

from hal9 import Config, Layer, Neuron, Runtime, Signal
from hal9.config import RuntimeConfig

#: A restart backoff short enough that a crash test costs milliseconds.
FAST_BACKOFF = (0.001, 0.01)


#: The LLM only: the runtime tests are not about memory (tests/memory enables it where it is).
LLM_ONLY = {"llm": "hal9.llm:LLMService"}


def config(**runtime: Any) -> Config:
    """Defaults with a fixed server id, the LLM as the only service and the given ``[runtime]`` settings."""
    return Config(server_id="test", runtime=RuntimeConfig(**runtime), services=LLM_ONLY)


def sample(rt: Runtime, name: str, **labels: str) -> float | None:
    """One sample of the runtime's own registry (collectors run, as on a scrape)."""
    return rt.metrics.registry.get_sample_value(name, labels)


class Echo(Neuron):
    """Returns its input."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> Any:
        return signal.content


class Fan(Neuron):
    """Returns a list: one output per given suffix (fan-out)."""

    layer = Layer.L4

    def __init__(self, id: str, suffixes: list[str], **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.suffixes = suffixes

    async def process(self, signal: Signal) -> list[str]:
        return [f"{signal.content}.{suffix}" for suffix in self.suffixes]


class Drop(Neuron):
    """Ends every branch whose content contains ``drop`` by returning None."""

    layer = Layer.L3

    async def process(self, signal: Signal) -> Any:
        return None if "drop" in str(signal.content) else signal.content


class Boom(Neuron):
    """Raises ValueError for contents containing ``bad``; echoes the rest."""

    layer = Layer.L3

    async def process(self, signal: Signal) -> Any:
        if "bad" in str(signal.content):
            raise ValueError(f"cannot handle {signal.content}")
        return signal.content


class Gate(Neuron):
    """Blocks in process() until ``release`` is set; ``entered`` says a signal is being held."""

    layer = Layer.L2

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.entered = anyio.Event()
        self.release = anyio.Event()
        self.seen: list[Any] = []

    async def process(self, signal: Signal) -> Any:
        self.seen.append(signal.content)
        self.entered.set()
        await self.release.wait()
        return signal.content


class Stuck(Neuron):
    """Never finishes a signal; ``entered`` is set once one arrived."""

    layer = Layer.L2

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.entered = anyio.Event()

    async def process(self, signal: Signal) -> Any:
        self.entered.set()
        await anyio.sleep_forever()
