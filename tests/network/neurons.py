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
        if signal.content == "opaque":
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
