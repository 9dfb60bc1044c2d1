"""LLM services: the real Claude service, the deterministic mock, and the choice between them.

``ClaudeService`` is imported on first use: the anthropic SDK takes over a second to
import, which every ``python -m hal9`` command and every mock-only user would pay.
"""

from typing import TYPE_CHECKING, Any

from hal9.llm.mock import MockLLM, estimate_tokens
from hal9.llm.pricing import OTHER, PriceTable, Usage
from hal9.llm.select import LLMService, resolve_mode

if TYPE_CHECKING:
    from hal9.llm.claude import ClaudeService

__all__ = ["OTHER", "ClaudeService", "LLMService", "MockLLM", "PriceTable", "Usage", "estimate_tokens", "resolve_mode"]


def __getattr__(name: str) -> Any:
    if name == "ClaudeService":
        from hal9.llm.claude import ClaudeService

        return ClaudeService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
