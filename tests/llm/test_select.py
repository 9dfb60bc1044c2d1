"""The default LLM service: mock or real by mode, and all six Claude families after real work."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9 import ClaudeService, Config, MockLLM, Runtime
from hal9.config import LLMConfig, MockLLMConfig
from hal9.llm import LLMService, resolve_mode
from tests.llm.fake_anthropic import fake_anthropic
from tests.metrics.test_families import MOCK_LLM_FAMILIES, assert_matches_contract, collected

CLAUDE_FAMILIES = (
    *MOCK_LLM_FAMILIES,
    "hal9_claude_cost_dollars_total",
    "hal9_claude_cost_rate_dollars_per_hour",
    "hal9_claude_budget_remaining_dollars",
)


def cfg(tmp_path: Path, mode: str = "auto", **llm: object) -> Config:
    return Config(server_id="test", data_dir=tmp_path, llm=LLMConfig(mode=mode, **llm))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "environ", "resolved"),
    [
        ("auto", {}, "mock"),
        ("auto", {"ANTHROPIC_API_KEY": ""}, "mock"),
        ("auto", {"ANTHROPIC_API_KEY": "sk-x"}, "real"),
        ("mock", {"ANTHROPIC_API_KEY": "sk-x"}, "mock"),
        ("real", {}, "real"),
    ],
)
def test_auto_mode_is_real_only_with_an_api_key(mode: str, environ: dict[str, str], resolved: str) -> None:
    assert resolve_mode(mode, environ) == resolved


def test_llm_service_builds_the_mock_without_a_key_and_claude_with_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(LLMService.from_config(cfg(tmp_path)), MockLLM)
    assert isinstance(LLMService.from_config(cfg(tmp_path, "real")), ClaudeService)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert isinstance(LLMService.from_config(cfg(tmp_path)), ClaudeService)
    assert isinstance(LLMService.from_config(cfg(tmp_path, "mock")), MockLLM)
    with pytest.raises(TypeError):
        LLMService()


@pytest.mark.anyio
async def test_runtime_in_real_mode_sends_the_neurons_calls_to_the_api_and_counts_them_as_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_anthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        async with Runtime(cfg(tmp_path, timeout=2.0)) as rt:
            result = await rt.ask("Build a todo app")
    assert isinstance(rt.services["llm"], ClaudeService)
    assert result.ok
    # L4 answers one unstructured directive, L3 and L2 one call each.
    assert [seen.body["model"] for seen in fake.requests] == [
        "claude-opus-5-5",
        "claude-sonnet-5-5",
        "claude-haiku-4-5",
    ]
    families = collected(rt)
    calls = [s for s in families["hal9_claude_api_calls_total"].samples if s.name.endswith("_total")]
    real = sum(s.value for s in calls if s.labels["mode"] == "real" and s.labels["status"] == "success")
    assert real == 3
    assert not any(s.labels["mode"] == "mock" for s in calls)
    assert (tmp_path / "hal9.db").exists()


@pytest.mark.anyio
async def test_all_six_claude_families_have_the_contracts_types_labels_and_buckets_after_real_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_anthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        config = cfg(tmp_path, max_retries=0, fallback_to_mock=True, mock=MockLLMConfig(model="mock-claude"))
        async with Runtime(config) as rt:
            assert (await rt.ask("Build a todo app")).ok
            fake.fail(500, times=1)  # the strategic call of this request falls back to the mock
            assert (await rt.ask("Build a todo app with tags")).ok
    families = collected(rt)
    for name in CLAUDE_FAMILIES:
        assert_matches_contract(name, families[name])
    calls = [s for s in families["hal9_claude_api_calls_total"].samples if s.name.endswith("_total")]
    modes = {s.labels["mode"] for s in calls if s.value}
    assert modes == {"real", "mock"}
    periods = {s.labels["period"] for s in families["hal9_claude_budget_remaining_dollars"].samples}
    assert periods == {"hour", "day", "month"}
    assert families["hal9_claude_cost_rate_dollars_per_hour"].samples[0].value > 0
