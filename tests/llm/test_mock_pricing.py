"""The mock prices what it stands in for: the layer's model at its price, budgets, the ledger, usage."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import httpx
import pytest

from hal9 import Config, Layer, MockLLM, Runtime
from hal9.config import BudgetConfig, LLMConfig, MockLLMConfig
from hal9.errors import BudgetExceeded
from hal9.llm.claude import ClaudeService
from hal9.llm.ledger import SpendLedger
from hal9.llm.pricing import PriceTable, Usage
from hal9.server import create_app

COST = "hal9_claude_cost_dollars_total"
REMAINING = "hal9_claude_budget_remaining_dollars"
RATE = "hal9_claude_cost_rate_dollars_per_hour"
CALLS = "hal9_claude_api_calls_total"
LLM_ONLY = {"llm": "hal9.llm:LLMService"}


def sample(llm: MockLLM, name: str, **labels: str) -> float | None:
    return llm.metrics.registry.get_sample_value(name, labels)


def expected_cost(settings: LLMConfig, model: str, prompt: int, completion: int) -> float:
    return PriceTable(settings.price_table, settings.default_price).cost(model, Usage(prompt, completion))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("layer", "model"),
    [(Layer.L4, "claude-opus-5-5"), (Layer.L3, "claude-sonnet-5-5"), (Layer.L2, "claude-haiku-4-5"), (None, None)],
)
async def test_a_mock_call_costs_what_the_layers_configured_model_would(layer: Layer | None, model: str | None) -> None:
    settings = LLMConfig()
    llm = MockLLM(settings=settings)
    async with llm:
        response = await llm.complete(system="You plan.", prompt="Build a todo app " * 40, layer=layer)
    priced_as = model if model is not None else settings.model  # no layer: llm.model
    cost = expected_cost(settings, priced_as, response.prompt_tokens, response.completion_tokens)
    assert cost > 0
    assert math.isclose(sample(llm, COST, model="mock-claude") or 0, cost)
    assert llm.spend is not None
    assert math.isclose(llm.spend.spent("hour"), cost)
    assert math.isclose(sample(llm, REMAINING, period="hour") or 0, 5.0 - cost)
    assert math.isclose(sample(llm, RATE) or 0, cost)


@pytest.mark.anyio
async def test_a_mock_call_that_could_pass_a_budget_is_refused_and_counted_as_an_error() -> None:
    llm = MockLLM(settings=LLMConfig(budget=BudgetConfig(hour=0.001)))
    with pytest.raises(BudgetExceeded) as refused:
        await llm.complete(system="s", prompt="p", layer=Layer.L4)  # worst case: 1024 tokens at $20/M
    assert refused.value.period == "hour"
    assert sample(llm, CALLS, mode="mock", model="mock-claude", status="error") == 1
    assert llm.calls == type(llm.calls)()  # refused before it was answered


@pytest.mark.anyio
async def test_an_unpriced_mock_costs_nothing_and_no_budget_refuses_it() -> None:
    llm = MockLLM(settings=LLMConfig(budget=BudgetConfig(hour=0.0)), priced=False)
    await llm.complete(system="s", prompt="p", layer=Layer.L4)
    assert sample(llm, COST, model="mock-claude") == 0
    assert sample(llm, REMAINING, period="hour") == 0  # the limit, untouched
    assert sample(llm, CALLS, mode="mock", model="mock-claude", status="success") == 1


@pytest.mark.anyio
async def test_llm_mock_priced_false_in_the_config_makes_the_runtime_mock_free(tmp_path: Path) -> None:
    config = Config(
        server_id="t", data_dir=tmp_path / "data", services=LLM_ONLY, llm=LLMConfig(mock=MockLLMConfig(priced=False))
    )
    async with Runtime(config) as rt:
        assert (await rt.ask("Build a todo app")).ok
        llm = rt.services["llm"]
        assert isinstance(llm, MockLLM)
        assert llm.usage()["priced"] is False
        assert rt.metrics.registry.get_sample_value(COST, {"model": "mock-claude"}) == 0
    assert not (tmp_path / "data").exists()  # no spend to keep: no database opened


@pytest.mark.anyio
async def test_mock_spend_is_kept_in_the_ledger_as_mock_and_never_counts_against_the_real_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(server_id="t", data_dir=tmp_path / "data", services=LLM_ONLY)
    async with Runtime(config) as rt:
        assert (await rt.ask("Build a todo app")).ok
        llm = rt.services["llm"]
        assert isinstance(llm, MockLLM)
        assert llm.spend is not None
        spent = llm.spend.spent("month")
    assert spent > 0
    with sqlite3.connect(config.data_dir / "hal9.db") as db:
        rows = db.execute("SELECT model, mode, SUM(cost), COUNT(*) FROM llm_spend GROUP BY model, mode").fetchall()
    [(model, mode, total, calls)] = rows
    assert (model, mode, calls) == ("mock-claude", "mock", 5)  # 1 strategic + 2 design + 2 implementation
    assert math.isclose(total, spent)

    # A restarted mock reads its spend back; the real service on the same database sees none of it.
    async with Runtime(config) as again:
        llm = again.services["llm"]
        assert isinstance(llm, MockLLM)
        assert llm.spend is not None
        assert math.isclose(llm.spend.spent("month"), spent)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    real = ClaudeService.from_config(config)
    async with real:
        assert real.spend.spent("month") == 0


@pytest.mark.anyio
async def test_a_ledger_written_before_calls_had_a_mode_reads_as_real(tmp_path: Path) -> None:
    database = tmp_path / "hal9.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "CREATE TABLE llm_spend (id INTEGER PRIMARY KEY, at REAL NOT NULL, model TEXT NOT NULL,"
            " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO llm_spend (at, model, prompt_tokens, completion_tokens, cost) VALUES (1e12, 'm', 1, 1, 2)"
        )
    database.chmod(0o600)
    real, mock = SpendLedger(database), SpendLedger(database, mode="mock")
    await real.open()
    await mock.open()
    try:
        assert await real.spend_by_model(0) == {"m": 2.0}
        assert await mock.spend_by_model(0) == {}
    finally:
        await real.close()
        await mock.close()


@pytest.mark.anyio
async def test_usage_in_mock_mode_shows_the_budgets_and_the_spend(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"server_id": "t", "data_dir": str(tmp_path / "data"), "services": LLM_ONLY, "auth": {"enabled": False}}
    )
    async with Runtime(config) as rt:
        assert (await rt.ask("Build a todo app")).ok
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            usage = (await client.get("/api/v1/llm/usage")).json()
    assert (usage["mode"], usage["model"], usage["priced"]) == ("mock", "mock-claude", True)
    hour = usage["periods"]["hour"]
    assert hour["limit_dollars"] == 5.0
    assert hour["spent_dollars"] > 0
    assert math.isclose(hour["remaining_dollars"], 5.0 - hour["spent_dollars"])
    assert hour["by_model"].keys() == {"mock-claude"}
    assert usage["rate_dollars_per_hour"] == pytest.approx(hour["spent_dollars"])


@pytest.mark.anyio
async def test_the_real_services_fallback_mock_prices_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    fallback = MockLLM()
    service = ClaudeService(LLMConfig(fallback_to_mock=True), fallback=fallback)
    assert fallback.spend is None
    assert not fallback.priced
    service.metrics  # noqa: B018 - binds the metrics: the budget families are registered once, by the real service
    await fallback.complete(system="s", prompt="p", layer=Layer.L4)
    assert service.spend.spent("hour") == 0
