"""The real Claude service against our fake Messages API: the real SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9 import ClaudeService, Layer
from hal9.config import BudgetConfig, LayerModel, LLMConfig, MockLLMConfig, ModelPrice
from hal9.errors import (
    BudgetExceeded,
    LLMBadRequest,
    LLMBadResponse,
    LLMCircuitOpen,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from hal9.llm import MockLLM, estimate_tokens
from hal9.llm.breaker import CircuitBreaker
from hal9.llm.pricing import OTHER
from tests.llm.fake_anthropic import FakeAnthropic, fake_anthropic

CALLS = "hal9_claude_api_calls_total"
DURATION = "hal9_claude_api_duration_seconds"
TOKENS = "hal9_claude_tokens_used_total"
COST = "hal9_claude_cost_dollars_total"
RATE = "hal9_claude_cost_rate_dollars_per_hour"
REMAINING = "hal9_claude_budget_remaining_dollars"
HAIKU = "claude-haiku-4-5"
NO_BUDGET = BudgetConfig(hour=None, day=None, month=None)


def settings(**overrides: Any) -> LLMConfig:
    """Fast settings for tests: short timeouts, no budget unless given."""
    values: dict[str, Any] = {"timeout": 2.0, "max_retries": 2, "budget": NO_BUDGET}
    return LLMConfig(**(values | overrides))


@asynccontextmanager
async def claude(
    monkeypatch: pytest.MonkeyPatch, database: Path | None = None, **overrides: Any
) -> AsyncIterator[tuple[FakeAnthropic, ClaudeService]]:
    """A fake API, and a started service that finds it through ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY."""
    async with fake_anthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        fallback = MockLLM() if overrides.pop("fallback", False) else None
        async with ClaudeService(settings(**overrides), database=database, fallback=fallback) as service:
            yield fake, service


def value(service: ClaudeService, name: str, **labels: str) -> float | None:
    return service.metrics.sample(name, labels)


@pytest.mark.anyio
async def test_tokens_and_cost_equal_the_fakes_usage_times_the_price_table(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch) as (fake, service):
        fake.reply("the answer", input_tokens=1000, output_tokens=200, cache_write=100, cache_read=50)
        fake.reply("again", input_tokens=10, output_tokens=20)
        first = await service.complete(system="sys", prompt="question", layer=Layer.L2)
        await service.complete(system="sys", prompt="question", layer=Layer.L2)
        text = service.metrics.render().decode()

    assert (first.text, first.model, first.prompt_tokens, first.completion_tokens) == ("the answer", HAIKU, 1150, 200)
    # claude-haiku-4-5: $1 input, $5 output per million; cache writes 1.25x and reads 0.1x input.
    expected_cost = (1000 * 1.0 + 100 * 1.25 + 50 * 0.1 + 200 * 5.0 + 10 * 1.0 + 20 * 5.0) / 1e6
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert scraped[TOKENS, (("model", HAIKU), ("type", "prompt"))] == 1150 + 10
    assert scraped[TOKENS, (("model", HAIKU), ("type", "completion"))] == 220
    assert math.isclose(scraped[COST, (("model", HAIKU),)], expected_cost)
    assert scraped[CALLS, (("mode", "real"), ("model", HAIKU), ("status", "success"))] == 2
    assert math.isclose(scraped[RATE, ()], expected_cost)


@pytest.mark.anyio
async def test_system_prompt_is_top_level_and_model_and_max_tokens_come_from_the_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layers = {Layer.L4: LayerModel(model="claude-opus-5-5", max_tokens=333), Layer.L2: LayerModel(model=HAIKU)}
    async with claude(monkeypatch, layers=layers, max_tokens=77, model="claude-sonnet-5-5") as (fake, service):
        await service.complete(system="You are L4", prompt="plan it", layer=Layer.L4)
        await service.complete(system="You are L2", prompt="do it", layer=Layer.L2)
        await service.complete(system="no layer", prompt="x", max_tokens=5)

    l4, l2, bare = (seen.body for seen in fake.requests)
    assert l4 == {
        "model": "claude-opus-5-5",
        "max_tokens": 333,
        "system": "You are L4",
        "messages": [{"role": "user", "content": "plan it"}],
    }
    assert (l2["model"], l2["max_tokens"], l2["system"]) == (HAIKU, 77, "You are L2")
    assert (bare["model"], bare["max_tokens"]) == ("claude-sonnet-5-5", 5)
    assert all("system" not in m for m in l4["messages"])
    assert "test-key" in fake.requests[0].headers.get("x-api-key", fake.requests[0].headers.get("authorization", ""))


@pytest.mark.anyio
@pytest.mark.parametrize("status", [429, 529])
async def test_sdk_retries_rate_limits_and_overload_then_succeeds(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    async with claude(monkeypatch, max_retries=2) as (fake, service):
        fake.fail(status, times=2)
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert response.text == "fake answer"
    assert len(fake.requests) == 3
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 0


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "error"), [(429, LLMRateLimited), (529, LLMUnavailable), (500, LLMUnavailable)])
async def test_failures_past_the_retries_are_our_errors(
    monkeypatch: pytest.MonkeyPatch, status: int, error: type[Exception]
) -> None:
    async with claude(monkeypatch, max_retries=1) as (fake, service):
        fake.fail(status, times=2)
        with pytest.raises(error):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert len(fake.requests) == 2
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1


@pytest.mark.anyio
async def test_bad_request_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, max_retries=2) as (fake, service):
        fake.fail(400)
        with pytest.raises(LLMBadRequest, match="400"):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert len(fake.requests) == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1
    assert service.breaker.consecutive_failures == 0  # the API answered: not an outage


@pytest.mark.anyio
async def test_timeout_is_an_error_with_status_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, timeout=0.05, max_retries=0) as (fake, service):
        fake.slow()
        with pytest.raises(LLMTimeout):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert fake.slow_started.is_set()
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 0
    assert value(service, f"{DURATION}_count", mode="real", model=HAIKU) == 1
    assert value(service, TOKENS, type="prompt", model=HAIKU) == 0


@pytest.mark.anyio
async def test_malformed_body_is_a_bad_response_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch) as (fake, service):
        fake.malformed()
        with pytest.raises(LLMBadResponse):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1


@pytest.mark.anyio
async def test_budget_refuses_the_call_that_would_cross_it_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    system, prompt, cap = "s" * 40, "p" * 40, 100
    worst = (estimate_tokens(system) + estimate_tokens(prompt)) * 1.0 / 1e6 + cap * 5.0 / 1e6
    actual = (10 * 1.0 + 5 * 5.0) / 1e6  # the fake's default usage: 10 in, 5 out
    limit = worst + actual / 2  # room for one call's worst case, not for a second one after it
    async with claude(monkeypatch, budget=BudgetConfig(hour=limit, day=None, month=None)) as (fake, service):
        await service.complete(system=system, prompt=prompt, layer=Layer.L2, max_tokens=cap)
        assert math.isclose(value(service, REMAINING, period="hour") or 0, limit - actual)
        with pytest.raises(BudgetExceeded) as refused:
            await service.complete(system=system, prompt=prompt, layer=Layer.L2, max_tokens=cap)
        # A smaller call still fits.
        await service.complete(system=system, prompt=prompt, layer=Layer.L2, max_tokens=1)
    assert refused.value.period == "hour"
    assert math.isclose(refused.value.needed, worst)
    assert len(fake.requests) == 2  # the refused call never reached the API
    assert value(service, REMAINING, period="day") == math.inf  # no limit


@pytest.mark.anyio
async def test_concurrent_calls_reserve_their_worst_case_so_they_cannot_overrun_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worst = (1 + 1) * 1.0 / 1e6 + 100 * 5.0 / 1e6
    async with claude(monkeypatch, budget=BudgetConfig(hour=worst * 1.5, day=None, month=None)) as (fake, service):
        fake.slow()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: service.complete(system="s", prompt="p", layer=Layer.L2, max_tokens=100))
            await fake.slow_started.wait()
            with pytest.raises(BudgetExceeded):
                await service.complete(system="s", prompt="p", layer=Layer.L2, max_tokens=100)
            fake.release.set()
    assert len(fake.requests) == 1
    assert service.spend.reserved == 0


@pytest.mark.anyio
async def test_spend_ledger_survives_a_new_service_on_the_same_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "hal9.db"
    budget = BudgetConfig(hour=1.0, day=2.0, month=3.0)
    async with claude(monkeypatch, database=database, budget=budget) as (fake, service):
        fake.reply(input_tokens=100_000, output_tokens=20_000)  # $0.10 + $0.10 on haiku
        await service.complete(system="s", prompt="p", layer=Layer.L2)
        before = {p: value(service, REMAINING, period=p) for p in ("hour", "day", "month")}
    async with claude(monkeypatch, database=database, budget=budget) as (_, restarted):
        after = {p: value(restarted, REMAINING, period=p) for p in ("hour", "day", "month")}
        rate = value(restarted, RATE)
        by_model = restarted.spend.spent_by_model("month")
    assert before == after
    assert math.isclose(after["hour"] or 0, 0.8)
    assert math.isclose(after["month"] or 0, 2.8)
    assert math.isclose(rate or 0, 0.2)
    assert by_model.keys() == {HAIKU}


@pytest.mark.anyio
async def test_breaker_opens_after_consecutive_failures_fails_fast_and_recovers_after_a_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    async with claude(monkeypatch, max_retries=0) as (fake, service):
        service.breaker = CircuitBreaker(failures=2, cooldown=30.0, clock=lambda: now[0])
        fake.fail(500, times=2)
        for _ in range(2):
            with pytest.raises(LLMUnavailable):
                await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert service.breaker.state == "open"
        with pytest.raises(LLMCircuitOpen):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert len(fake.requests) == 2  # failed fast: nothing sent

        now[0] = 30.0  # the cooldown has passed: one probe goes, and fails
        assert service.breaker.state == "half_open"
        fake.fail(500)
        with pytest.raises(LLMUnavailable):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert service.breaker.state == "open"

        now[0] = 60.0  # the next probe succeeds and closes it
        await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert service.breaker.state == "closed"
        await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert service.usage()["breaker"]["state"] == "closed"
    assert len(fake.requests) == 5


def test_half_open_breaker_lets_one_probe_through_and_a_cancelled_probe_frees_the_slot() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown=1.0, clock=lambda: now[0])
    breaker.failure()
    now[0] = 1.0
    breaker.acquire()  # the probe
    with pytest.raises(LLMCircuitOpen):
        breaker.acquire()  # everyone else still fails fast
    breaker.release()
    breaker.acquire()  # the next call probes instead
    breaker.success()
    assert breaker.state == "closed"


@pytest.mark.anyio
async def test_fallback_answers_from_the_mock_and_is_counted_as_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, max_retries=0, fallback=True) as (fake, service):
        fake.fail(529)
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
        fake.fail(400)  # a refused request is not an outage: no fallback
        with pytest.raises(LLMBadRequest):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert response.model == "mock-claude"
    assert value(service, CALLS, mode="mock", model="mock-claude", status="success") == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 2
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 0


@pytest.mark.anyio
async def test_calls_in_flight_are_bounded_by_max_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, max_concurrency=2) as (fake, service):
        fake.slow(times=3)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(lambda: service.complete(system="s", prompt="p", layer=Layer.L2))
            await fake.two_in_flight.wait()
            with anyio.fail_after(1):
                while service.limiter.statistics().tasks_waiting < 1:
                    await anyio.lowlevel.checkpoint()
            assert len(fake.requests) == 2  # the third waits for a slot, not at the API
            fake.release.set()
    assert len(fake.requests) == 3
    assert fake.max_in_flight == 2


@pytest.mark.anyio
async def test_model_outside_the_price_table_is_labelled_other_and_priced_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = ModelPrice(input=2.0, output=4.0)
    async with claude(monkeypatch, model="claude-future-9", default_price=default) as (fake, service):
        fake.reply(input_tokens=1_000_000, output_tokens=1_000_000)
        response = await service.complete(system="s", prompt="p")
    assert response.model == "claude-future-9"
    assert fake.requests[0].body["model"] == "claude-future-9"
    assert value(service, COST, model=OTHER) == 6.0
    assert value(service, CALLS, mode="real", model=OTHER, status="success") == 1


@pytest.mark.anyio
async def test_dated_model_ids_are_priced_and_labelled_by_their_alias_and_prices_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prices = {HAIKU: ModelPrice(input=10.0, output=10.0)}
    async with claude(monkeypatch, model=f"{HAIKU}-20251001", prices=prices) as (fake, service):
        fake.reply(input_tokens=500_000, output_tokens=500_000)
        await service.complete(system="s", prompt="p")
    assert value(service, COST, model=HAIKU) == 10.0


@pytest.mark.anyio
async def test_mock_fallback_config_builds_a_mock_with_the_configured_model(tmp_path: Path) -> None:
    from hal9 import Config

    config = Config(
        server_id="t", data_dir=tmp_path, llm=LLMConfig(fallback_to_mock=True, mock=MockLLMConfig(model="m"))
    )
    service = ClaudeService.from_config(config)
    assert isinstance(service.fallback, MockLLM)
    assert service.fallback.model == "m"


@pytest.mark.anyio
async def test_a_tool_use_turn_gives_its_text_and_stop_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch) as (fake, service):
        fake.tool_use("Let me look that up.")
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert (response.text, response.stop_reason) == ("Let me look that up.", "tool_use")
    assert [(use.name, dict(use.input)) for use in response.tool_uses] == [("web_fetch", {"url": "x"})]
    assert "tools" not in fake.requests[0].body  # a plain call's body is unchanged


@pytest.mark.anyio
async def test_a_cancelled_call_releases_its_reservation_and_counts_neither_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with claude(monkeypatch, budget=BudgetConfig(hour=1.0, day=None, month=None)) as (fake, service):
        fake.slow()
        with anyio.CancelScope() as scope:

            async def cancel_when_sent() -> None:
                await fake.slow_started.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_when_sent)
                await service.complete(system="s", prompt="p", layer=Layer.L2)
        assert scope.cancelled_caught
        assert service.spend.reserved == 0
        assert service.breaker.consecutive_failures == 0
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 0
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 0


@pytest.mark.anyio
async def test_breaker_transitions_are_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    from structlog.testing import capture_logs

    async with claude(monkeypatch, max_retries=0, breaker_failures=1) as (fake, service):
        fake.fail(500)
        with capture_logs() as logs, pytest.raises(LLMUnavailable):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert [(e["event"], e["state"], e["log_level"]) for e in logs] == [("llm.breaker", "open", "warning")]


# -- streaming ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "cap", "streamed"),
    [("auto", 4095, False), ("auto", 4096, True), ("always", 10, True), ("never", 100_000, False)],
)
async def test_calls_are_streamed_by_mode_and_completion_cap(
    monkeypatch: pytest.MonkeyPatch, mode: str, cap: int, streamed: bool
) -> None:
    async with claude(monkeypatch, stream=mode) as (fake, service):
        fake.reply("a streamed answer that spans several deltas", input_tokens=300, output_tokens=40)
        response = await service.complete(system="s", prompt="p", layer=Layer.L2, max_tokens=cap)
    assert bool(fake.requests[0].body.get("stream")) is streamed
    assert fake.requests[0].body["system"] == "s"
    assert (response.text, response.prompt_tokens, response.completion_tokens) == (
        "a streamed answer that spans several deltas",
        300,
        40,
    )


@pytest.mark.anyio
async def test_a_streamed_answer_is_counted_and_priced_like_a_whole_one(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, stream="always") as (fake, service):
        fake.reply("streamed", input_tokens=1000, output_tokens=200, cache_write=100, cache_read=50)
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert (response.prompt_tokens, response.completion_tokens) == (1150, 200)
    assert value(service, TOKENS, type="prompt", model=HAIKU) == 1150
    assert value(service, TOKENS, type="completion", model=HAIKU) == 200
    expected = (1000 * 1.0 + 100 * 1.25 + 50 * 0.1 + 200 * 5.0) / 1e6
    assert value(service, COST, model=HAIKU) == pytest.approx(expected)
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 1


@pytest.mark.anyio
async def test_a_streamed_tool_use_turn_gives_its_text_and_stop_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, stream="always") as (fake, service):
        fake.tool_use("Let me look that up.")
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert (response.text, response.stop_reason) == ("Let me look that up.", "tool_use")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error_type", "expected", "outage"),
    [
        ("overloaded_error", LLMUnavailable, True),
        ("api_error", LLMUnavailable, True),
        ("rate_limit_error", LLMRateLimited, True),
        ("invalid_request_error", LLMBadRequest, False),
    ],
)
async def test_an_error_event_mid_stream_is_mapped_by_its_type(
    monkeypatch: pytest.MonkeyPatch, error_type: str, expected: type[Exception], outage: bool
) -> None:
    async with claude(monkeypatch, stream="always") as (fake, service):
        fake.stream_error(error_type)
        with pytest.raises(expected, match=error_type):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1
    assert value(service, TOKENS, type="prompt", model=HAIKU) == 0
    assert service.breaker.consecutive_failures == (1 if outage else 0)


@pytest.mark.anyio
async def test_a_stream_cut_off_mid_answer_is_unavailable_and_counts_against_the_breaker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with claude(monkeypatch, stream="always", max_retries=2) as (fake, service):
        for _ in range(5):
            fake.stream_cut()
        with pytest.raises(LLMUnavailable):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    # Whether an SDK release retries a stream that had started is its own choice; past max_retries, never.
    assert 1 <= len(fake.requests) <= 1 + 2
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="success") == 0
    assert service.breaker.consecutive_failures == 1


@pytest.mark.anyio
async def test_a_stream_that_stalls_times_out_between_events(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, stream="always", timeout=0.2, max_retries=0) as (fake, service):
        fake.stream_stall()
        with pytest.raises(LLMTimeout):
            await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert fake.slow_started.is_set()
    assert len(fake.requests) == 1
    assert value(service, CALLS, mode="real", model=HAIKU, status="error") == 1
    assert service.breaker.consecutive_failures == 1


@pytest.mark.anyio
async def test_a_streamed_call_falls_back_to_the_mock_when_the_stream_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async with claude(monkeypatch, stream="always", fallback=True) as (fake, service):
        fake.stream_error("overloaded_error")
        response = await service.complete(system="s", prompt="p", layer=Layer.L2)
    assert response.model == "mock-claude"
    assert value(service, CALLS, mode="mock", model="mock-claude", status="success") == 1
