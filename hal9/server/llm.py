"""The LLM service's spend, budgets, mode and circuit breaker."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hal9.llm import ClaudeService, MockLLM
from hal9.runtime.llm import LLM
from hal9.server.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])


class BreakerView(BaseModel):
    """The circuit breaker around the real API."""

    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    failures_to_open: int
    cooldown_seconds: float


class PeriodView(BaseModel):
    """Spend in the current UTC hour, day or month; limits are None when the period has none."""

    spent_dollars: float
    limit_dollars: float | None
    remaining_dollars: float | None
    by_model: dict[str, float]


class UsageView(BaseModel):
    """What answers the LLM calls, and what they have cost."""

    mode: Literal["real", "mock", "custom", "none"]
    model: str | None = None
    priced: bool | None = Field(
        default=None,
        description="mock only: whether its calls are priced as the configured models (llm.mock.priced)",
    )
    fallback_to_mock: bool = False
    breaker: BreakerView | None = None
    rate_dollars_per_hour: float = 0.0
    reserved_dollars: float = 0.0
    periods: dict[str, PeriodView] = {}


@router.get("/usage", response_model=UsageView)
async def usage(runtime: RuntimeDep) -> UsageView:
    """Spend per model and period, remaining budgets, the mode and the breaker's state.

    ``mode`` is what answers calls: ``real`` (the Claude API; ``fallback_to_mock`` tells
    whether the mock stands in while it is unavailable), ``mock``, ``custom`` for a
    service of the user's own, or ``none`` when no LLM service is configured. The mock's
    calls are priced as the configured models' would be (unless ``llm.mock.priced`` is
    false), and its spend is kept apart from the real API's.
    """
    service = runtime.services.get(LLM)
    if isinstance(service, ClaudeService):
        return UsageView.model_validate(service.usage())
    if isinstance(service, MockLLM):
        return UsageView.model_validate(service.usage())
    return UsageView(mode="none" if service is None else "custom")
