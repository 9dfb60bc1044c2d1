"""Deterministic neurons for the distributed tests, named by import path in configs."""

from __future__ import annotations

from typing import Any

import anyio

from hal9 import Layer, Neuron, Signal


class Split(Neuron):
    """L4: two directives per request."""

    layer = Layer.L4

    async def process(self, signal: Signal) -> list[str]:
        return [f"{signal.content}-1", f"{signal.content}-2"]


class Design(Neuron):
    """L3: wraps its input."""

    layer = Layer.L3

    async def process(self, signal: Signal) -> Any:
        if str(signal.content).startswith("opaque"):
            return {1, 2}  # a set: not JSON, so it cannot travel on
        return f"design({signal.content})"


class Implement(Neuron):
    """L2: wraps its input."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> str:
        return f"impl({signal.content})"


class Slow(Neuron):
    """L3: takes a while (so a test can stop its server while signals are in it)."""

    layer = Layer.L3

    async def process(self, signal: Signal) -> str:
        await anyio.sleep(0.05)
        return f"design({signal.content})"


class Hang(Neuron):
    """L3: never finishes (its server is stopped with the signals in it)."""

    layer = Layer.L3

    async def process(self, signal: Signal) -> str:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class Gate(Neuron):
    """L3: waits for ``gate`` to be set, so its mailbox fills."""

    layer = Layer.L3

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.gate = anyio.Event()

    async def process(self, signal: Signal) -> str:
        await self.gate.wait()
        return f"design({signal.content})"
