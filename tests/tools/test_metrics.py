"""The three MCP tools families after real work: in /metrics, with the contract's names, types and labels."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9 import Config, Layer, MockLLM, Runtime, Tools
from hal9.server import create_app
from tests.metrics.test_families import assert_matches_contract, collected

FAMILIES = (
    "hal9_mcp_tool_invocations_total",
    "hal9_mcp_tool_duration_seconds",
    "hal9_mcp_security_violations_total",
)


def config(root: Path) -> Config:
    """The default network on the mock, whose L2 reply reads a file through a tool; tools granted to L2."""
    return Config.model_validate(
        {
            "server_id": "test",
            "data_dir": str(root.parent / "data"),  # beside the tool root, never inside it
            "auth": {"enabled": False},  # the scrape is what is tested here; auth has tests of its own
            "services": {"llm": "hal9.llm:LLMService", "tools": "hal9.tools:ToolService"},
            "llm": {
                "mode": "mock",
                "mock": {
                    "replies": [
                        {"layer": "L2", "tool_use": {"name": "file_read", "input": {"path": "plan.txt"}}},
                        {"layer": "L2", "tool_round": 1, "reply": "Done, following {tool_result}"},
                    ]
                },
            },
            "tools": {
                "root": str(root),
                "layers": {"L2": {"tools": ["file_read", "file_write", "shell"], "commands": ["echo"]}},
            },
        }
    )


@pytest.mark.anyio
async def test_the_tools_families_are_scraped_with_the_contracts_names_types_and_labels(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "plan.txt").write_text("the plan")
    async with Runtime(config(tmp_path / "root")) as rt:
        result = await rt.ask("Build a todo app")
        tools = rt.services.require(Tools)
        await tools.call("file_write", {"path": "../escape.txt", "content": "x"}, layer=Layer.L2)
        await tools.call("shell", {"argv": ["sh", "-c", "id"]}, layer=Layer.L2)
        await tools.call("shell", {"argv": ["echo", "hi"]}, layer=Layer.L2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://t") as client:
            scrape = (await client.get("/metrics")).text

    assert result.ok
    assert all(output == "Done, following the plan" for output in result.outputs)
    families = collected(rt)
    for name in FAMILIES:
        assert_matches_contract(name, families[name])
    parsed = {family.name: family for family in text_string_to_metric_families(scrape)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for family in parsed.values() for s in family.samples}
    directives = len(result.outputs)
    assert samples["hal9_mcp_tool_invocations_total", (("status", "success"), ("tool", "file_read"))] == directives
    assert samples["hal9_mcp_tool_invocations_total", (("status", "error"), ("tool", "file_write"))] == 1
    assert samples["hal9_mcp_tool_invocations_total", (("status", "success"), ("tool", "shell"))] == 1
    assert samples["hal9_mcp_tool_invocations_total", (("status", "error"), ("tool", "shell"))] == 1
    assert samples["hal9_mcp_tool_duration_seconds_count", (("tool", "file_read"),)] == directives
    assert samples["hal9_mcp_tool_duration_seconds_count", (("tool", "web_fetch"),)] == 0  # exists at zero
    violation = "hal9_mcp_security_violations_total"
    assert samples[violation, (("tool", "file_write"), ("violation_type", "path_traversal"))] == 1
    assert samples[violation, (("tool", "shell"), ("violation_type", "forbidden_command"))] == 1
    assert samples[violation, (("tool", "file_read"), ("violation_type", "path_traversal"))] == 0
    assert parsed["hal9_mcp_tool_invocations"].type == "counter"
    assert parsed["hal9_mcp_tool_duration_seconds"].type == "histogram"
    assert parsed["hal9_mcp_security_violations"].type == "counter"


@pytest.mark.anyio
async def test_an_unused_tool_service_builds_nothing_and_exposes_zero_series(tmp_path: Path) -> None:
    """The default config has the service and grants no layer any tool: no tool is offered, no folder made."""
    settings = Config(
        data_dir=tmp_path / "data", services={"llm": "hal9.llm:MockLLM", "tools": "hal9.tools:ToolService"}
    )
    async with Runtime(settings) as rt:
        assert (await rt.ask("Build a todo app")).ok
    assert all(call.tools == () for call in rt.services.require(MockLLM).calls)
    assert not (tmp_path / "data-workspace").exists()
    assert rt.metrics.sample("hal9_mcp_tool_invocations_total", {"tool": "shell", "status": "success"}) == 0
