"""The learning protocol neurons call; the service lives in :mod:`hal9.learning`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Learning(Protocol):
    """What a neuron needs from a learning service: its system prompt with the lessons learned."""

    def system_prompt(self, neuron_id: str, prompt: str) -> str:
        """``prompt`` followed by the neuron's current lessons (a bounded number, bounded in size)."""
        ...
