"""GET /api/v1/llm/usage: spend per model and period, remaining budgets, mode and breaker state."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from hal9 import Config, Runtime
from hal9.server import create_app
from tests.llm.fake_anthropic import FakeAnthropic, fake_anthropic
from tests.server.helpers import Api, OpenApi, make_config


@asynccontextmanager
async def real_api(monkeypatch: pytest.MonkeyPatch, config: Config) -> AsyncIterator[tuple[FakeAnthropic, Api]]:
    """A fake Messages API, and a runtime in real mode (found through ANTHROPIC_*) with a client on its app.

    Nested in this order so the runtime stops before the fake does.
    """
    async with fake_anthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        async with Runtime(config) as runtime:
            transport = httpx.ASGITransport(app=create_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield fake, Api(runtime, client)


@pytest.mark.anyio
async def test_usage_reports_spend_per_model_and_period_budgets_and_breaker_in_real_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(data_dir=str(tmp_path), llm={"budget": {"hour": 1.0, "day": 10.0, "month": None}})
    async with real_api(monkeypatch, config) as (fake, api):
        fake.default.input_tokens, fake.default.output_tokens = 1000, 100
        assert (await api.runtime.ask("Build a todo app")).ok
        response = await api.client.get("/api/v1/llm/usage")
    assert response.status_code == 200
    usage = response.json()
    assert usage["mode"] == "real"
    assert usage["breaker"]["state"] == "closed"
    # One call per layer: opus 5.5 ($4/$20), sonnet 5.5 ($2/$10), haiku 4.5 ($1/$5) per million tokens.
    expected = {
        "claude-opus-5-5": (1000 * 4 + 100 * 20) / 1e6,
        "claude-sonnet-5-5": (1000 * 2 + 100 * 10) / 1e6,
        "claude-haiku-4-5": (1000 * 1 + 100 * 5) / 1e6,
    }
    total = sum(expected.values())
    hour = usage["periods"]["hour"]
    assert hour["by_model"].keys() == expected.keys()
    assert all(math.isclose(hour["by_model"][m], cost) for m, cost in expected.items())
    assert math.isclose(hour["spent_dollars"], total)
    assert math.isclose(hour["remaining_dollars"], 1.0 - total)
    assert math.isclose(usage["periods"]["day"]["remaining_dollars"], 10.0 - total)
    assert usage["periods"]["month"]["limit_dollars"] is None
    assert usage["periods"]["month"]["remaining_dollars"] is None
    assert math.isclose(usage["rate_dollars_per_hour"], total)


@pytest.mark.anyio
async def test_usage_says_mock_when_the_mock_answers(open_api: OpenApi) -> None:
    api = await open_api()
    usage = (await api.client.get("/api/v1/llm/usage")).json()
    assert usage["mode"] == "mock"
    assert usage["model"] == "mock-claude"


@pytest.mark.anyio
async def test_a_call_over_budget_fails_the_branch_with_budget_exceeded_and_is_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(data_dir=str(tmp_path), llm={"budget": {"hour": 0.0001}})
    async with real_api(monkeypatch, config) as (fake, api):
        result = await api.runtime.ask("Build a todo app")
    assert not result.ok
    assert [(e.neuron_id, e.error) for e in result.errors] == [("strategic", "BudgetExceeded")]
    assert fake.requests == []


@pytest.mark.anyio
async def test_usage_says_custom_for_a_users_own_llm_service() -> None:
    from hal9 import LLMResponse, Service

    class Own(Service):
        """An LLM of the user's own: a service with ``complete``, under any name."""

        name = "own-llm"

        async def complete(self, *, system: str, prompt: str, **kwargs: object) -> LLMResponse:
            return LLMResponse(prompt, "own", 1, 1)

    async with Runtime(make_config(), services={"llm": Own()}) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            usage = (await client.get("/api/v1/llm/usage")).json()
    assert usage["mode"] == "custom"
    assert usage["breaker"] is None
