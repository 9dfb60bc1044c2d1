"""The LLM service's spend, budgets, mode and circuit breaker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hal9.llm import ClaudeService, MockLLM
from hal9.server.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])


@router.get("/usage")
async def usage(runtime: RuntimeDep) -> dict[str, Any]:
    """Spend per model and period, remaining budgets, the mode and the breaker's state.

    ``mode`` is what answers calls: ``real`` (the Claude API, with ``fallback_to_mock``
    telling whether the mock stands in while it is unavailable), ``mock``, or ``none``
    when no LLM service is configured (``custom`` for a service of the user's own).
    """
    service = runtime.services.get("llm")
    if isinstance(service, ClaudeService):
        return service.usage()
    if isinstance(service, MockLLM):
        return {"mode": "mock", "model": service.model, "periods": {}, "breaker": None}
    return {"mode": "none" if service is None else "custom", "periods": {}, "breaker": None}
