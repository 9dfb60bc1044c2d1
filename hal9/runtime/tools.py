"""The tool service protocol that neurons call; the MCP implementation lives in :mod:`hal9.tools`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hal9.layer import Layer
from hal9.runtime.llm import ToolSpec


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool call gave: its text, and whether it failed or was refused."""

    text: str
    is_error: bool = False


@runtime_checkable
class Tools(Protocol):
    """What a neuron needs from a tool service: the tools its layer may use, and calling one."""

    async def definitions(self, layer: Layer | None = None) -> tuple[ToolSpec, ...]:
        """The tools ``layer`` may use, as definitions to offer a model (none if it may use none)."""
        ...

    async def call(self, name: str, arguments: Mapping[str, Any], *, layer: Layer | None = None) -> ToolOutput:
        """Run the tool ``name`` for ``layer``.

        A refused, failing or unknown call is not raised: it is an output with ``is_error``
        set and a message the model can read. Only cancellation propagates.
        """
        ...
