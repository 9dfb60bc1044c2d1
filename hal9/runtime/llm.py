"""The LLM service protocol that neurons call; implementations live in :mod:`hal9.llm`.

A plain call is one user turn (``prompt``) under a system prompt. A call with tools offers
``tools`` (Anthropic tool definitions); when the model answers with ``tool_uses``, the caller
runs them and calls again with the same ``prompt`` and the turns since (``history``): the
model's tool_use turn, then a user turn of tool results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from hal9.layer import Layer


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and the JSON Schema of its input."""

    name: str
    description: str
    input_schema: Mapping[str, Any]

    def as_anthropic(self) -> dict[str, Any]:
        """The Messages API's tool definition."""
        return {"name": self.name, "description": self.description, "input_schema": dict(self.input_schema)}


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call the model asked for."""

    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call gave, sent back to the model; ``is_error`` for a failed or refused call."""

    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """A turn after the first user prompt: the model's (text and tool uses) or the user's (tool results)."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_uses: tuple[ToolUse, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """One completed LLM call. ``tool_uses`` is not empty when the model asks for tools (stop reason tool_use)."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    stop_reason: str = "end_turn"
    tool_uses: tuple[ToolUse, ...] = field(default=())


@runtime_checkable
class LLM(Protocol):
    """What a neuron needs from a language model."""

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
        """Answer ``prompt`` under the ``system`` prompt.

        Args:
            system: the system prompt (the neuron's role).
            prompt: the first user turn.
            layer: the calling neuron's layer, for per-layer models and scripted replies.
            max_tokens: a cap on the completion; the service's configured default if None.
            tools: tools the model may ask for (none: a plain completion).
            history: the turns after ``prompt`` (tool uses and their results), oldest first.

        Raises:
            LLMError: the call failed.
        """
        ...
