"""Feedback on a real three-layer trace: gradients, lessons in the prompt sent, patterns, outcomes."""

from __future__ import annotations

import pytest

from hal9 import Layer
from hal9.learning import FeedbackTooEarly, InvalidFeedback
from hal9.llm import MockLLM
from tests.learning.helpers import (
    DESIGN,
    IMPLEMENTATION,
    STRATEGIC,
    failing_network,
    learning_runtime,
    lesson_llm,
    sample,
)
from tests.support import Gate


@pytest.mark.anyio
@pytest.mark.parametrize("decay", [0.5, 0.3])
async def test_feedback_gives_gradients_at_l2_l3_and_l4_with_the_configured_decay(decay: float) -> None:
    async with learning_runtime(decay=decay, smoothing=1.0, threshold=1.0) as (runtime, learning):
        result = await runtime.ask("Build a todo app")
        assert result.ok
        assert len(result.outputs) == 2  # the strategic layer fanned out into two directives
        receipt = learning.feedback(result.id, score=0.2, comment="too vague")
        expected = {IMPLEMENTATION: 0.8, DESIGN: 0.8 * decay, STRATEGIC: 0.8 * decay**2}
        assert receipt.errors == pytest.approx(expected)
        assert receipt.gradients == pytest.approx(expected)
        assert not receipt.success
        assert receipt.adjusting == ()
        for neuron_id, value in expected.items():
            assert sample(runtime, "hal9_learning_error_gradient", neuron_id=neuron_id) == pytest.approx(value)
        assert sample(runtime, "hal9_learning_cycles_total") == 1


@pytest.mark.anyio
async def test_gradients_are_smoothed_over_cycles() -> None:
    async with learning_runtime(decay=0.5, smoothing=0.5, threshold=1.0) as (runtime, learning):
        for score in (0.0, 0.0, 1.0):
            result = await runtime.ask("Build a todo app")
            receipt = learning.feedback(result.id, score=score)
        # 0 -> 0.5 -> 0.75 -> 0.375 at L2
        assert receipt.gradients[IMPLEMENTATION] == pytest.approx(0.375)
        assert learning.report(IMPLEMENTATION).gradient == pytest.approx(0.375)


@pytest.mark.anyio
async def test_an_adjustment_is_in_the_system_prompt_actually_sent_on_the_next_call() -> None:
    llm = lesson_llm("Always state the units of every number.")
    async with learning_runtime(llm, decay=0.4, smoothing=1.0, threshold=0.5) as (runtime, learning):
        events = runtime.events.subscribe()
        first = await runtime.ask("Build a todo app")
        receipt = learning.feedback(first.id, score=0.0, comment="units missing")
        assert receipt.adjusting == (IMPLEMENTATION,)  # design got 0.4, strategic 0.16: below 0.5
        await learning.wait_idle()
        report = learning.report(IMPLEMENTATION)
        (lesson,) = report.lessons
        assert lesson.text == "Always state the units of every number."
        assert (lesson.source, lesson.status) == ("llm", "evaluating")
        assert report.gradient == 0  # consumed by the adjustment
        # The lesson was written by the neuron's LLM, at its layer, from the failure's context.
        (asked,) = [call for call in llm.calls if "Write the new lesson." in call.prompt]
        assert asked.layer is Layer.L2
        assert "units missing" in asked.prompt
        assert "pattern: validation" in asked.prompt

        llm.calls.clear()
        await runtime.ask("Build a todo app")
        implementation_calls = [call for call in llm.calls if call.layer is Layer.L2]
        assert implementation_calls
        for call in implementation_calls:
            assert call.system.endswith("- Always state the units of every number.")
        assert all("Always state" not in call.system for call in llm.calls if call.layer is not Layer.L2)
        seen = []
        async for event in events:
            seen.append(event)
            if [e["type"] for e in seen].count("signal.completed") == 2:
                break
        (adjusted,) = [e for e in seen if e["type"] == "learning.adjusted"]
        assert adjusted["neuron_id"] == IMPLEMENTATION
        assert adjusted["lesson"] == "Always state the units of every number."
        assert sample(runtime, "hal9_learning_cycles_total") == 1
        adjust = {"service": "learning", "operation": "adjust", "status": "success"}
        assert sample(runtime, "hal9_service_operations_total", **adjust) == 1


@pytest.mark.anyio
async def test_a_failed_branch_is_feedback_by_itself_and_a_rule_writes_the_lesson_without_a_usable_llm() -> None:
    # The mock's template reply for L2 is not a lesson: the rule writes it.
    network = failing_network()
    async with learning_runtime(MockLLM(), **network, decay=0.5, smoothing=1.0, threshold=0.6) as (runtime, learning):
        result = await runtime.ask("bad input")
        assert result.status == "failed"
        await learning.wait_idle()
        worker, front = learning.report("worker"), learning.report("front")
        (lesson,) = worker.lessons
        assert lesson.source == "rule"
        assert lesson.pattern == "validation"
        assert lesson.text.startswith("Check the answer against every constraint")
        assert front.lessons == ()  # upstream, half the error reached it: below the threshold
        assert front.gradient == 0.5
        assert sample(runtime, "hal9_learning_cycles_total") == 1
        assert worker.effectiveness == 0.0
        assert front.effectiveness == 0.0


@pytest.mark.anyio
async def test_patterns_are_identified_at_the_threshold_and_not_before() -> None:
    network = failing_network()
    async with learning_runtime(**network, pattern_threshold=3, threshold=1.0) as (runtime, learning):
        events = runtime.events.subscribe()
        for expected in (0, 0, 1, 1, 1, 2):
            await runtime.ask("timeout please")
            assert sample(runtime, "hal9_learning_patterns_identified_total", pattern_type="timeout") == expected
        events.close()
        identified = [event async for event in events if event["type"] == "learning.pattern"]
        assert [(e["neuron_id"], e["pattern_type"]) for e in identified] == [("worker", "timeout")] * 2
        await runtime.ask("bad input")
        assert sample(runtime, "hal9_learning_patterns_identified_total", pattern_type="validation") == 0
        report = learning.report("worker")
        assert report.identified == {"timeout": 2}
        assert report.patterns == {"validation": 1}
        assert sample(runtime, "hal9_learning_patterns_identified_total", pattern_type="budget") == 0


@pytest.mark.anyio
async def test_effectiveness_follows_the_outcomes_over_a_sliding_window() -> None:
    async with learning_runtime(**failing_network(), window=4, threshold=1.0) as (runtime, learning):
        rates = []
        for content in ("bad 1", "ok 1", "ok 2", "bad 2", "ok 3", "ok 4", "ok 5"):
            await runtime.ask(content)
            rates.append(sample(runtime, "hal9_learning_effectiveness_ratio", neuron_id="worker"))
        assert rates == pytest.approx([0.0, 0.5, 2 / 3, 0.5, 0.75, 0.75, 0.75])
        last = await runtime.ask("ok 6")
        assert learning.report("worker").effectiveness == 1.0  # "bad 2" has left the window
        # Feedback replaces the request's outcome: "ok 6" was judged wrong after all.
        learning.feedback(last.id, score=0.0)
        assert learning.report("worker").effectiveness == 0.75
        assert learning.report("worker").outcomes == 4


@pytest.mark.anyio
async def test_feedback_is_refused_when_bad_unknown_or_too_early() -> None:
    gate = Gate("gate")
    async with learning_runtime(neurons=[gate]) as (runtime, learning):
        for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
            with pytest.raises(InvalidFeedback):
                learning.feedback("x", score=bad)  # type: ignore[arg-type]
        from hal9.errors import TraceNotFound

        with pytest.raises(TraceNotFound):
            learning.feedback("no-such-request", score=0.5)
        pending = await runtime.submit("held")
        await gate.entered.wait()
        with pytest.raises(FeedbackTooEarly):
            learning.feedback(pending, score=0.5)
        gate.release.set()
        await runtime.wait(pending)
        assert learning.feedback(pending, score=0.5).success
        assert sample(runtime, "hal9_learning_cycles_total") == 1
