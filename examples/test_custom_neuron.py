"""Testing your own neuron with hal9.testing: a scripted LLM and a running runtime."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from custom_neuron import Reviewer, build_runtime

from hal9 import Layer, Neuron
from hal9.neurons import DesignNeuron, StrategicNeuron
from hal9.testing import capture_logs, running_runtime, scripted_llm

PIPELINE = [("strategic", "design"), ("design", "reviewer")]


def _network() -> list[Neuron]:
    return [StrategicNeuron("strategic"), DesignNeuron("design"), Reviewer("reviewer")]


@pytest.mark.anyio
async def test_reviewer_returns_the_scripted_review_for_each_design() -> None:
    """Each directive's design reaches the reviewer, whose LLM reply is scripted."""
    llm = scripted_llm(
        (Layer.L4, None, '{"directives": ["cache the answers", "expire them"]}'),
        (Layer.L2, None, "The risk is stale data."),
    )
    async with running_runtime(neurons=_network(), connections=PIPELINE, llm=llm) as runtime:
        result = await runtime.ask("Add a cache")
    assert result.status == "completed"
    assert [o["review"] for o in result.outputs] == ["The risk is stale data."] * 2
    # The prompts the reviewer actually sent are the designs, not the raw request.
    reviewer_prompts = [call.prompt for call in llm.calls if call.layer is Layer.L2]
    assert len(reviewer_prompts) == 2
    assert all("cache the answers" in p or "expire them" in p for p in reviewer_prompts)


@pytest.mark.anyio
async def test_an_empty_design_fails_only_its_branch() -> None:
    """A design layer that returns an empty design makes the reviewer raise; the error is recorded."""
    llm = scripted_llm((Layer.L4, None, '{"directives": ["one"]}'), (Layer.L3, None, '{"design": " "}'))
    with capture_logs() as logs:
        async with running_runtime(neurons=_network(), connections=PIPELINE, llm=llm) as runtime:
            result = await runtime.ask("Anything")
            processed_error = runtime.metrics.sample(
                "hal9_signals_processed_total", {"neuron_id": "reviewer", "layer": "L2", "status": "error"}
            )
    assert result.status == "failed"
    assert result.errors[0].neuron_id == "reviewer"
    assert processed_error == 1
    assert any(entry["event"] == "signal.failed" for entry in logs)


def test_running_the_example_writes_nothing_where_a_server_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in a server's folder, the example leaves its ./hal9-data (and the folder) alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    async def run() -> str:
        async with build_runtime() as runtime:
            return (await runtime.ask("Add a cache")).status

    assert anyio.run(run) == "completed"
    assert list(tmp_path.iterdir()) == []
