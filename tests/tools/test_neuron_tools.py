"""Neurons use tools through tool_use turns: with the scripted mock, and with the real SDK against the fake API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from hal9 import ClaudeService, Layer, Neuron, Signal
from hal9.config import BudgetConfig, LearningConfig, LLMConfig, MockReply, MockToolUse
from hal9.learning import LearningService
from hal9.neurons import ImplementationNeuron, StrategicNeuron
from hal9.runtime.llm import ToolResult
from hal9.testing import running_runtime, scripted_llm
from hal9.tools import ToolService
from tests.llm.fake_anthropic import fake_anthropic
from tests.tools.helpers import invocations, settings, violations

NOTES = "Meeting moved to Thursday 10:00, room 4."


def read_notes_rules(path: str = "notes.txt") -> list[MockReply]:
    """Round 0: ask for file_read; round 1: answer with what the tool gave."""
    return [
        MockReply(layer=Layer.L2, trigger="notes", tool_use=MockToolUse(name="file_read", input={"path": path})),
        MockReply(layer=Layer.L2, trigger="notes", tool_round=1, reply="The notes say: {tool_result}"),
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "notes.txt").write_text(NOTES)
    (tmp_path / "secret.txt").write_text("outside")
    return folder


@pytest.mark.anyio
async def test_a_neuron_reads_a_file_through_a_mock_tool_use_turn_and_answers_with_it(root: Path) -> None:
    llm = scripted_llm(*read_notes_rules())
    tools = ToolService(settings(root, tools=("file_read",)), root=root)
    neuron = ImplementationNeuron("impl")
    async with running_runtime(neurons=[neuron], llm=llm, services={"tools": tools}) as rt:
        result = await rt.ask("Summarise the notes")
    assert result.ok
    assert result.outputs == (f"The notes say: {NOTES}",)
    first, second = llm.calls
    assert first.tools == ("file_read",)
    assert first.tool_uses[0].name == "file_read"
    assert second.history[1].tool_results == (ToolResult(first.tool_uses[0].id, NOTES, False),)
    assert invocations(tools, "file_read", "success") == 1
    assert rt.metrics.sample("hal9_mcp_tool_invocations_total", {"tool": "file_read", "status": "success"}) == 1


@pytest.mark.anyio
async def test_a_refused_tool_call_reaches_the_model_as_an_error_result(root: Path) -> None:
    llm = scripted_llm(*read_notes_rules("../secret.txt"))
    tools = ToolService(settings(root, tools=("file_read",)), root=root)
    async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services={"tools": tools}) as rt:
        result = await rt.ask("Summarise the notes")
    (output,) = result.outputs
    assert "path_traversal" in output
    assert "outside" not in output.split("'")[2]  # the file's content never came back
    assert llm.calls[1].history[1].tool_results[0].is_error
    assert violations(tools, "file_read", "path_traversal") == 1


@pytest.mark.anyio
async def test_tool_rounds_are_bounded(root: Path) -> None:
    """A model that keeps asking for tools gets max_rounds of them; its last reply is the answer."""
    rules = [
        MockReply(
            layer=Layer.L2,
            tool_round=n,
            reply=f"round {n}",
            tool_use=MockToolUse(name="file_read", input={"path": "notes.txt"}),
        )
        for n in range(5)
    ]
    llm = scripted_llm(*rules)
    tools = ToolService(settings(root, tools=("file_read",), max_rounds=2), root=root)
    async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services={"tools": tools}) as rt:
        result = await rt.ask("loop")
    assert result.outputs == ("round 2",)
    assert len(llm.calls) == 3
    assert invocations(tools, "file_read", "success") == 2


@pytest.mark.anyio
async def test_a_layer_without_tools_makes_one_plain_call(root: Path) -> None:
    llm = scripted_llm()
    tools = ToolService(settings(root, tools=("file_read",)), root=root)  # granted to L2 only
    async with running_runtime(neurons=[StrategicNeuron("s")], llm=llm, services={"tools": tools}) as rt:
        assert (await rt.ask("Build a todo app")).ok
    (call,) = llm.calls
    assert call.tools == ()
    assert call.history == ()


@pytest.mark.anyio
@pytest.mark.parametrize("stream", ["never", "always"])
async def test_a_neuron_reads_a_file_through_the_real_sdk_against_the_fake_api(
    root: Path, monkeypatch: pytest.MonkeyPatch, stream: Literal["never", "always"]
) -> None:
    """The same flow whether the answers come whole or as server-sent events."""
    async with fake_anthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        fake.tool_use("Reading the notes.", name="file_read", arguments={"path": "notes.txt"})
        fake.reply("The notes say: {tool_result}", input_tokens=40, output_tokens=8)
        no_budget = BudgetConfig(hour=None, day=None, month=None)
        llm = ClaudeService(LLMConfig(timeout=5.0, max_retries=0, budget=no_budget, stream=stream))
        tools = ToolService(settings(root, tools=("file_read", "file_write")), root=root)
        async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services={"tools": tools}) as rt:
            result = await rt.ask("Summarise the notes")
            tokens = rt.metrics.sample("hal9_claude_tokens_used_total", {"type": "prompt", "model": "claude-haiku-4-5"})
    assert result.outputs == (f"The notes say: {NOTES}",)
    first, second = (seen.body for seen in fake.requests)
    assert first.get("stream", False) is (stream == "always")
    assert [tool["name"] for tool in first["tools"]] == ["file_read", "file_write"]
    assert first["tools"][0]["input_schema"]["required"] == ["path"]
    assert first["messages"] == [{"role": "user", "content": "Summarise the notes"}]
    assistant, user = second["messages"][1:]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {"type": "text", "text": "Reading the notes."}
    tool_use = assistant["content"][1]
    assert (tool_use["type"], tool_use["name"], tool_use["input"]) == ("tool_use", "file_read", {"path": "notes.txt"})
    assert user == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": NOTES, "is_error": False}],
    }
    assert tokens == 10 + 40  # both calls are accounted for
    assert invocations(tools, "file_read", "success") == 1


class NotesReader(Neuron):
    """A user's own neuron calling a tool directly through ``self.tools``."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> str:
        output = await self.tools.call("file_read", {"path": str(signal.content)}, layer=self.layer)
        return f"error: {output.text}" if output.is_error else output.text


@pytest.mark.anyio
async def test_a_users_neuron_calls_a_tool_through_self_tools(root: Path) -> None:
    tools = ToolService(settings(root, tools=("file_read",)), root=root)
    async with running_runtime(neurons=[NotesReader("reader")], services={"tools": tools}) as rt:
        found = await rt.ask("notes.txt")
        refused = await rt.ask("/etc/passwd")
    assert found.outputs == (NOTES,)
    (error,) = refused.outputs
    assert error.startswith("error: ")
    assert "path_traversal" in error


@pytest.mark.anyio
async def test_a_refused_tool_call_the_neuron_answered_around_is_a_failure_the_learning_service_hears_of(
    root: Path,
) -> None:
    llm = scripted_llm(*read_notes_rules("../secret.txt"))
    tools = ToolService(settings(root, tools=("file_read",)), root=root)
    learning = LearningService(LearningConfig(pattern_threshold=1, write_with_llm=False))
    services = {"tools": tools, "learning": learning}
    async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services=services) as rt:
        result = await rt.ask("Summarise the notes")
        await learning.wait_idle()
        report = learning.report("impl")
    assert result.ok  # the neuron answered: the request itself succeeded
    assert report.effectiveness == 0.0
    assert report.identified == {"tool_refused": 1}
    assert rt.metrics.sample("hal9_learning_patterns_identified_total", {"pattern_type": "tool_refused"}) == 1
