"""The composition root's choice of LLM service: the mock or the real Claude service, by mode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from hal9.llm.mock import MockLLM

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.llm.claude import ClaudeService

API_KEY_VARIABLE = "ANTHROPIC_API_KEY"


def resolve_mode(mode: str, environ: Mapping[str, str] | None = None) -> Literal["mock", "real"]:
    """``auto`` is ``real`` when ``ANTHROPIC_API_KEY`` is set (and not empty), else ``mock``."""
    if mode == "auto":
        return "real" if (os.environ if environ is None else environ).get(API_KEY_VARIABLE) else "mock"
    if mode not in ("mock", "real"):
        raise ValueError(f"unknown LLM mode {mode!r}")
    return "real" if mode == "real" else "mock"


class LLMService:
    """What ``config.services`` names for the LLM by default: builds the service ``llm.mode`` asks for.

    ``mock`` builds :class:`MockLLM`; ``real`` builds :class:`ClaudeService` (with a mock
    fallback when ``llm.fallback_to_mock`` is set); ``auto`` is real when an API key is set.
    """

    def __init__(self) -> None:
        raise TypeError("LLMService only chooses a service: call LLMService.from_config(config)")

    @staticmethod
    def from_config(config: Config) -> MockLLM | ClaudeService:
        if resolve_mode(config.llm.mode) == "real":
            # Imported here: the anthropic SDK costs over a second to import, mock users skip it.
            from hal9.llm.claude import ClaudeService

            return ClaudeService.from_config(config)
        return MockLLM.from_config(config)
