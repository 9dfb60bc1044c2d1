"""LLM services: the real Claude service, the deterministic mock, and the choice between them."""

from hal9.llm.claude import ClaudeService
from hal9.llm.mock import MockLLM, estimate_tokens
from hal9.llm.pricing import OTHER, PriceTable, Usage
from hal9.llm.select import LLMService, resolve_mode

__all__ = ["OTHER", "ClaudeService", "LLMService", "MockLLM", "PriceTable", "Usage", "estimate_tokens", "resolve_mode"]
