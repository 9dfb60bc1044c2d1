"""`python -m hal9 serve` with ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL: real calls, spend kept across a restart."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from tests.cli.helpers import StartServer, value
from tests.llm.fake_anthropic import fake_anthropic

pytestmark = pytest.mark.slow

CONFIG = 'server_id = "claude-test"\n[llm.budget]\nhour = 1.0\nday = 2.0\nmonth = 3.0\n'


def test_serve_sends_the_neurons_calls_to_the_api_as_real_and_keeps_spend_across_a_restart(
    start_server: StartServer, tmp_path: Path
) -> None:
    """With a key set (mode auto), the built-in neurons call the fake API; a restarted server still sees the spend."""
    # The fake runs on an event loop in a thread of its own, since the server helpers block.
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(fake_anthropic()) as fake:
        env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": fake.base_url}
        server = start_server(CONFIG, env)
        with httpx.Client(base_url=server.url, timeout=15) as client:
            response = client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "completed"
            usage = client.get("/api/v1/llm/usage").json()
        first = server.scrape()
        assert server.stop() == 0

        restarted = start_server(CONFIG, env)
        second = restarted.scrape()
        assert restarted.stop() == 0

    assert len(fake.requests) == 3  # one call per layer, none to the mock
    assert usage["mode"] == "real"
    for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-4-5"):
        assert value(first, "hal9_claude_api_calls_total", mode="real", model=model, status="success") == 1
    assert not value(first, "hal9_claude_api_calls_total", mode="mock", model="mock-claude", status="success")
    spent = usage["periods"]["month"]["spent_dollars"]
    # The fake reports 10 prompt and 5 completion tokens a call; opus 5.5, sonnet 5.5 and haiku 4.5 prices.
    assert math.isclose(spent, (10 * (4 + 2 + 1) + 5 * (20 + 10 + 5)) / 1e6)
    scraped_cost = sum(
        value(first, "hal9_claude_cost_dollars_total", model=model) or 0
        for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-4-5")
    )
    assert math.isclose(scraped_cost, spent)
    assert value(first, "hal9_claude_tokens_used_total", type="prompt", model="claude-haiku-4-5") == 10
    assert value(first, "hal9_claude_tokens_used_total", type="completion", model="claude-haiku-4-5") == 5
    for period, limit in (("hour", 1.0), ("day", 2.0), ("month", 3.0)):
        before = value(first, "hal9_claude_budget_remaining_dollars", period=period)
        after = value(second, "hal9_claude_budget_remaining_dollars", period=period)
        assert before is not None
        assert after is not None
        assert math.isclose(before, limit - spent)
        assert math.isclose(after, before)
    assert (tmp_path / "hal9-data" / "hal9.db").exists()
