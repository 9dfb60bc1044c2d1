"""The start-up summary's lines, for configurations a subprocess test would need a NATS server or a key for."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9.cli.summary import SUMMARY_KEYS, render_summary, startup_summary
from hal9.config import Config
from hal9.llm import MockLLM
from hal9.runtime.service import Service
from hal9.runtime.services import Services

NO_KEY: dict[str, str] = {}
KEY = {"ANTHROPIC_API_KEY": "sk-test"}


def summary(data: dict[str, object], services: dict[str, Service], environ: dict[str, str]) -> dict[str, str]:
    config = Config.model_validate({"server_id": "a", **data}).with_data_dir()  # as serve runs it
    found = Services()
    for name, service in services.items():
        found.add(name, service)
    return startup_summary(config, found, "http://127.0.0.1:8080", environ)


def test_every_subject_is_there_and_the_data_folder_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = summary({}, {"llm": MockLLM()}, NO_KEY)
    assert tuple(lines) == SUMMARY_KEYS
    assert lines["data_dir"] == f"{tmp_path.resolve() / 'hal9-data'} (the database is hal9.db in it)"
    block = render_summary(lines)
    assert block.startswith("HAL9 is serving\n")
    assert "  data folder: " + str(tmp_path.resolve() / "hal9-data") in block
    assert "  URL:         http://127.0.0.1:8080\n" in block


def test_a_mock_chosen_by_mode_says_so_even_with_a_key_set() -> None:
    lines = summary({"llm": {"mode": "mock"}}, {"llm": MockLLM()}, KEY)
    assert lines["llm"].startswith("mock: ")
    assert "llm.mode = mock, although ANTHROPIC_API_KEY is set" in lines["llm"]


def test_an_unpriced_mock_says_its_calls_cost_nothing() -> None:
    lines = summary({"llm": {"mock": {"priced": False}}}, {"llm": MockLLM(priced=False)}, NO_KEY)
    assert "calls cost nothing (llm.mock.priced)" in lines["llm"]
    assert lines["budgets"].endswith("the mock's calls cost nothing")


def test_no_limit_budgets_and_no_llm_service() -> None:
    lines = summary({"llm": {"budget": {"hour": float("inf"), "day": None}}, "services": {}}, {}, NO_KEY)
    assert lines["llm"].startswith("none")
    assert lines["budgets"].startswith("no limit/hour, no limit/day, $500/month")
    assert lines["tools"].startswith("none (no tools service")


def test_tool_grants_per_layer_and_auth() -> None:
    data = {
        "tools": {
            "layers": {"L2": {"tools": ["file_read", "shell"], "commands": ["ls"]}, "L3": {"tools": ["web_fetch"]}}
        },
        "auth": {"enabled": True},
    }
    lines = summary(data, {"llm": MockLLM()}, NO_KEY)
    assert lines["tools"] == "L3 web_fetch; L2 file_read, shell"
    assert lines["auth"].startswith("on")


def test_the_network_names_the_nats_url_and_the_other_servers() -> None:
    data = {
        "network": {"nats_url": "nats://127.0.0.1:4222", "cluster": "c"},
        "neurons": [
            {"id": "s", "layer": "L4", "kind": "strategic", "downstream": ["d"]},
            {"id": "d", "layer": "L3", "kind": "design", "server": "b"},
        ],
    }
    lines = summary(data, {"llm": MockLLM()}, NO_KEY)
    assert lines["network"] == (
        "nats://127.0.0.1:4222 (cluster c, server_id a; neurons on b); "
        "state shared on JetStream: budgets, auth, accepted requests, memory, feedback"
    )


def test_the_network_says_when_each_server_keeps_its_own_state() -> None:
    data = {"network": {"nats_url": "nats://127.0.0.1:4222", "cluster": "c", "shared_state": False}}
    lines = summary(data, {"llm": MockLLM()}, NO_KEY)
    assert lines["network"].endswith("; each server keeps its own state (shared_state = false)")
