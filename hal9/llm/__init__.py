"""LLM services: the deterministic mock now; the real Claude service joins it here."""

from hal9.llm.mock import MockLLM, estimate_tokens

__all__ = ["MockLLM", "estimate_tokens"]
