"""The price table, budget periods, the sliding cost rate and the [llm] configuration."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hal9 import Layer, load_config
from hal9.config import BUILTIN_PRICES, BudgetConfig, ModelPrice
from hal9.errors import BudgetExceeded, ConfigError
from hal9.llm.budget import BudgetCollector, SpendTracker, period_end, period_start
from hal9.llm.ledger import SpendLedger
from hal9.llm.pricing import OTHER, PriceTable, Usage


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_models_are_labelled_by_their_table_entry_or_other() -> None:
    table = PriceTable(BUILTIN_PRICES, ModelPrice(input=1, output=1))
    assert table.label("claude-haiku-4-5") == "claude-haiku-4-5"
    assert table.label("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert table.label("claude-haiku-4-5-beta") == OTHER
    assert table.label("gpt-4") == OTHER
    assert set(table.models) == {*BUILTIN_PRICES, OTHER}


def test_cost_prices_cache_writes_and_reads_from_the_input_price_unless_given() -> None:
    prices = {"m": ModelPrice(input=2, output=10), "n": ModelPrice(input=2, output=10, cache_read=1)}
    table = PriceTable(prices, ModelPrice(input=0, output=0))
    usage = Usage(input=1_000_000, output=1_000_000, cache_write=1_000_000, cache_read=1_000_000)
    assert math.isclose(table.cost("m", usage), 2 + 10 + 2.5 + 0.2)
    assert math.isclose(table.cost("n", usage), 2 + 10 + 2.5 + 1)
    assert usage.prompt == 3_000_000
    assert math.isclose(table.worst_case("m", 1_000_000, 100_000), 2 + 1)


def test_period_starts_are_utc_calendar_hours_days_and_months() -> None:
    now = at("2026-11-27T10:42:13")
    assert period_start("hour", now) == at("2026-11-27T10:00:00")
    assert period_start("day", now) == at("2026-11-27T00:00:00")
    assert period_start("month", now) == at("2026-11-01T00:00:00")


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("hour", "2026-12-31T23:00:00", "2027-01-01T00:00:00"),
        ("day", "2026-02-28T00:00:00", "2026-03-01T00:00:00"),
        ("month", "2026-02-01T00:00:00", "2026-03-01T00:00:00"),
        ("month", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ],
)
def test_a_period_ends_where_the_next_one_starts(period: str, start: str, end: str) -> None:
    assert period_end(period, at(start)) == at(end)
    assert period_start(period, at(end)) == at(end)


@pytest.mark.anyio
async def test_spend_of_december_is_not_counted_in_january() -> None:
    now = [at("2026-12-31T23:59:59")]
    tracker = SpendTracker(BudgetConfig(hour=10.0, day=10.0, month=10.0), clock=lambda: now[0])
    await tracker.record("m", 1, 1, 2.0)
    assert [tracker.spent(p) for p in ("hour", "day", "month")] == [2.0, 2.0, 2.0]
    now[0] = at("2027-01-01T00:00:00")
    assert [tracker.spent(p) for p in ("hour", "day", "month")] == [0.0, 0.0, 0.0]
    await tracker.record("m", 1, 1, 1.0)
    assert [tracker.remaining(p) for p in ("hour", "day", "month")] == [9.0, 9.0, 9.0]


@pytest.mark.anyio
async def test_a_new_period_starts_from_zero_and_the_rate_is_a_sliding_hour() -> None:
    now = [at("2026-11-27T10:30:00")]
    tracker = SpendTracker(BudgetConfig(hour=1.0, day=5.0, month=None), clock=lambda: now[0])
    collector = BudgetCollector(tracker)
    await tracker.record("m", 1, 1, 0.75)
    assert tracker.remaining("hour") == 0.25
    with pytest.raises(BudgetExceeded) as refused, tracker.reserve(0.5):
        pass
    assert refused.value.period == "hour"

    now[0] = at("2026-11-27T11:10:00")  # a new hour; the same day; 40 minutes later
    assert tracker.remaining("hour") == 1.0
    assert tracker.remaining("day") == 4.25
    assert tracker.remaining("month") == math.inf
    assert tracker.rate_per_hour() == 0.75
    with tracker.reserve(0.5):
        assert tracker.reserved == 0.5
    assert tracker.reserved == 0

    now[0] = at("2026-11-27T11:31:00")  # past 60 minutes since the spend
    assert tracker.rate_per_hour() == 0
    values = {(m.name, s.labels.get("period")): s.value for m in collector.collect() for s in m.samples}
    assert values == {
        ("hal9_claude_cost_rate_dollars_per_hour", None): 0.0,
        ("hal9_claude_budget_remaining_dollars", "hour"): 1.0,
        ("hal9_claude_budget_remaining_dollars", "day"): 4.25,
        ("hal9_claude_budget_remaining_dollars", "month"): math.inf,
    }


@pytest.mark.anyio
async def test_ledger_reloads_only_the_current_periods_and_the_last_hour(tmp_path: Path) -> None:
    database = tmp_path / "hal9.db"
    now = [at("2026-10-31T23:50:00")]
    first = SpendTracker(BudgetConfig(), SpendLedger(database), clock=lambda: now[0])
    await first.open()
    await first.record("a", 1, 1, 1.0)  # last month
    now[0] = at("2026-11-01T00:20:00")
    await first.record("b", 1, 1, 2.0)
    await first.close()

    second = SpendTracker(BudgetConfig(), SpendLedger(database), clock=lambda: now[0])
    await second.open()
    try:
        assert second.spent_by_model("month") == {"b": 2.0}
        assert second.spent("day") == 2.0
        assert second.rate_per_hour() == 3.0  # 30 and 0 minutes ago: both in the window
    finally:
        await second.close()


def test_llm_section_from_toml_with_layers_prices_and_an_unlimited_period(tmp_path: Path) -> None:
    path = tmp_path / "hal9.toml"
    path.write_text(
        """
[llm]
mode = "real"
fallback_to_mock = true
[llm.layers.L2]
model = "claude-custom-1"
max_tokens = 64
[llm.prices.claude-custom-1]
input = 0.5
output = 1.5
[llm.budget]
hour = inf
""",
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert config.llm.mode == "real"
    assert config.llm.layers[Layer.L2].model == "claude-custom-1"
    assert Layer.L4 not in config.llm.layers  # a [llm.layers] table replaces the defaults
    assert config.llm.price_table["claude-custom-1"].output == 1.5
    assert config.llm.price_table["claude-haiku-4-5"] == BUILTIN_PRICES["claude-haiku-4-5"]
    tracker = SpendTracker(config.llm.budget)
    assert tracker.limits == {"hour": None, "day": 50.0, "month": 500.0}


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[llm]\nmode = "live"', "llm.mode"),
        ("[llm]\nmax_concurency = 2", "llm.max_concurency"),
        ("[llm.budget]\nhour = -1", "llm.budget.hour"),
        ('[llm.layers.L2]\nmodel = ""', "llm.layers.L2.model"),
        ("[llm.prices.x]\ninput = 1", "llm.prices.x.output"),
    ],
)
def test_bad_llm_settings_name_their_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "hal9.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert key in str(error.value)


def test_environment_overrides_the_mode() -> None:
    assert load_config(environ={"HAL9_LLM__MODE": "mock"}).llm.mode == "mock"
