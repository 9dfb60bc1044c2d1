"""The learning protocol neurons call; the service lives in :mod:`hal9.learning`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hal9.runtime.signal import Signal


@runtime_checkable
class Learning(Protocol):
    """What a neuron needs from a learning service: its system prompt with the lessons learned,
    and a place to report failures it recovered from."""

    def system_prompt(self, neuron_id: str, prompt: str) -> str:
        """``prompt`` followed by the neuron's current lessons (a bounded number, bounded in size)."""
        ...

    def note_failure(self, signal: Signal, neuron_id: str, error: BaseException) -> None:
        """A failure the neuron recovered from while processing ``signal``: learned from when the request ends."""
        ...
