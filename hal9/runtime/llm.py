"""The LLM service protocol that neurons call; implementations live in :mod:`hal9.llm`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hal9.runtime.layer import Layer


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """One completed LLM call."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    stop_reason: str = "end_turn"


@runtime_checkable
class LLM(Protocol):
    """What a neuron needs from a language model."""

    async def complete(
        self, *, system: str, prompt: str, layer: Layer | None = None, max_tokens: int | None = None
    ) -> LLMResponse:
        """Answer ``prompt`` under the ``system`` prompt.

        Args:
            system: the system prompt (the neuron's role).
            prompt: the user turn.
            layer: the calling neuron's layer, for per-layer models and scripted replies.
            max_tokens: a cap on the completion; the service's configured default if None.

        Raises:
            LLMError: the call failed.
        """
        ...
