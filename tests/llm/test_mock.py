"""The mock LLM: scripted replies in order, per-layer templates, token estimates and its metrics."""

from __future__ import annotations

import json
import math

import anyio
import pytest

from hal9 import LLM, Config, Layer, MockLLM, Runtime
from hal9.config import LLMConfig, MockLLMConfig, MockReply, MockToolUse
from hal9.llm import estimate_tokens
from hal9.llm.mock import template_reply
from hal9.runtime.llm import ToolResult, ToolSpec, Turn
from tests.support import config

CALLS = "hal9_claude_api_calls_total"
TOKENS = "hal9_claude_tokens_used_total"
DURATION = "hal9_claude_api_duration_seconds"


def scripted() -> MockLLM:
    return MockLLM(
        [
            MockReply(layer=Layer.L3, trigger="alpha", reply="L3 and alpha"),
            MockReply(trigger="alpha", reply="any layer, alpha"),
            MockReply(layer=Layer.L2, reply="any L2"),
            MockReply(layer=Layer.L4, trigger="beta", reply="L4 and beta"),
        ]
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("prompt", "layer", "reply"),
    [
        ("alpha", Layer.L3, "L3 and alpha"),
        ("say alpha twice", Layer.L2, "any layer, alpha"),  # the earlier rule wins over the L2 rule
        ("alpha", None, "any layer, alpha"),
        ("gamma", Layer.L2, "any L2"),
        ("beta", Layer.L4, "L4 and beta"),
        ("beta", Layer.L3, None),  # no rule matches: the template answers
        ("gamma", Layer.L4, None),
    ],
)
async def test_first_matching_rule_answers_in_order_by_layer_and_trigger(
    prompt: str, layer: Layer | None, reply: str | None
) -> None:
    llm = scripted()
    response = await llm.complete(system="sys", prompt=prompt, layer=layer)
    assert response.text == (reply if reply is not None else template_reply(prompt, layer))
    assert llm.reply_for(prompt, layer) == response.text


def test_mock_llm_satisfies_the_llm_protocol() -> None:
    assert isinstance(MockLLM(), LLM)


def test_l4_template_gives_two_directives_for_a_short_request_and_three_for_a_long_one() -> None:
    short = json.loads(template_reply("Build a todo app", Layer.L4))["directives"]
    long = json.loads(template_reply("Build a todo app with users, tags and sharing", Layer.L4))["directives"]
    assert len(short) == 2
    assert len(long) == 3
    assert all(d.endswith("Build a todo app") for d in short)


def test_templates_answer_about_the_last_line_of_the_prompt_per_layer() -> None:
    prompt = "Context the neuron added\n\n  Make tea  \n"
    assert json.loads(template_reply(prompt, Layer.L3)) == {"design": "Components, interfaces and steps for: Make tea"}
    assert template_reply(prompt, Layer.L2).endswith("Make tea")
    assert template_reply(prompt, None) == template_reply(prompt, Layer.L2)
    assert "the request" in template_reply("", Layer.L2)


def test_template_subject_is_shortened() -> None:
    reply = template_reply("word " * 100, Layer.L2)
    assert len(reply) < 200
    assert reply.endswith("…")


@pytest.mark.parametrize(("text", "tokens"), [("", 1), ("abc", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_token_estimate_is_a_quarter_of_the_characters_at_least_one(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


@pytest.mark.anyio
async def test_response_reports_estimated_tokens_and_the_model() -> None:
    llm = MockLLM([MockReply(reply="r" * 41)], model="mock-x")
    response = await llm.complete(system="s" * 10, prompt="p" * 17, layer=Layer.L2)
    assert response.model == "mock-x"
    assert response.prompt_tokens == math.ceil(10 / 4) + math.ceil(17 / 4)
    assert response.completion_tokens == math.ceil(41 / 4)
    assert response.stop_reason == "end_turn"


@pytest.mark.anyio
async def test_max_tokens_cuts_the_reply_and_says_so() -> None:
    llm = MockLLM([MockReply(reply="r" * 100)])
    response = await llm.complete(system="s", prompt="p", max_tokens=5)
    assert response.text == "r" * 20
    assert response.stop_reason == "max_tokens"
    assert response.completion_tokens == 5


@pytest.mark.anyio
async def test_calls_are_kept_for_tests_up_to_a_bound() -> None:
    llm = MockLLM(keep_calls=2)
    for prompt in ("one", "two", "three"):
        await llm.complete(system="sys", prompt=prompt, layer=Layer.L3)
    assert [(c.system, c.prompt, c.layer) for c in llm.calls] == [("sys", "two", Layer.L3), ("sys", "three", Layer.L3)]
    assert llm.calls[-1].reply == template_reply("three", Layer.L3)


@pytest.mark.anyio
async def test_calls_and_tokens_are_counted_as_mock_in_the_claude_families() -> None:
    llm = MockLLM([MockReply(reply="0123456789")], model="mock-m")
    registry = llm.metrics.registry
    assert registry.get_sample_value(CALLS, {"mode": "mock", "model": "mock-m", "status": "success"}) == 0
    prompt_tokens = completion_tokens = 0
    for prompt in ("a", "bb" * 10, "c" * 33):
        response = await llm.complete(system="system prompt", prompt=prompt)
        prompt_tokens += response.prompt_tokens
        completion_tokens += response.completion_tokens

    assert registry.get_sample_value(CALLS, {"mode": "mock", "model": "mock-m", "status": "success"}) == 3
    assert registry.get_sample_value(CALLS, {"mode": "mock", "model": "mock-m", "status": "error"}) == 0
    assert registry.get_sample_value(f"{DURATION}_count", {"mode": "mock", "model": "mock-m"}) == 3
    assert registry.get_sample_value(TOKENS, {"type": "prompt", "model": "mock-m"}) == prompt_tokens
    assert registry.get_sample_value(TOKENS, {"type": "completion", "model": "mock-m"}) == completion_tokens == 9
    assert prompt_tokens == 3 * estimate_tokens("system prompt") + 1 + 5 + 9


@pytest.mark.anyio
async def test_runtime_builds_the_mock_from_config_and_counts_its_calls() -> None:
    cfg = Config(
        server_id="test",
        llm=LLMConfig(mock=MockLLMConfig(model="mock-cfg", replies=(MockReply(layer=Layer.L2, reply="done"),))),
    )
    async with Runtime(cfg) as rt:
        result = await rt.ask("Build a todo app")
    assert isinstance(rt.services["llm"], MockLLM)
    assert result.outputs == ("done", "done")
    calls = rt.metrics.registry.get_sample_value(CALLS, {"mode": "mock", "model": "mock-cfg", "status": "success"})
    assert calls == 5  # 1 strategic + 2 design + 2 implementation
    tokens = rt.metrics.registry.get_sample_value(TOKENS, {"type": "completion", "model": "mock-cfg"})
    assert tokens is not None
    assert tokens > 0


@pytest.mark.anyio
async def test_default_runtime_uses_the_mock() -> None:
    async with Runtime(config()) as rt:
        await rt.ask("hi")
    assert isinstance(rt.services["llm"], MockLLM)
    assert rt.metrics.registry.get_sample_value(CALLS, {"mode": "mock", "model": "mock-claude", "status": "success"})


@pytest.mark.anyio
async def test_a_scripted_tool_use_turn_then_a_final_reply_with_the_tool_result() -> None:
    llm = MockLLM(
        [
            MockReply(trigger="weather", reply="Checking.", tool_use=MockToolUse(name="web_fetch", input={"url": "u"})),
            MockReply(trigger="weather", tool_round=1, reply="It says: {tool_result}"),
        ]
    )
    fetch = ToolSpec("web_fetch", "fetch a URL", {"type": "object", "properties": {"url": {"type": "string"}}})
    not_offered = await llm.complete(system="s", prompt="the weather?")
    first = await llm.complete(system="s", prompt="the weather?", tools=[fetch])
    history = [
        Turn("assistant", first.text, first.tool_uses),
        Turn("user", tool_results=(ToolResult(first.tool_uses[0].id, "sunny"),)),
    ]
    final = await llm.complete(system="s", prompt="the weather?", tools=[fetch], history=history)

    assert (not_offered.text, not_offered.tool_uses, not_offered.stop_reason) == ("Checking.", (), "end_turn")
    assert first.stop_reason == "tool_use"
    assert [(use.name, dict(use.input)) for use in first.tool_uses] == [("web_fetch", {"url": "u"})]
    assert first.prompt_tokens > not_offered.prompt_tokens  # the tool definitions are part of the prompt
    assert (final.text, final.tool_uses, final.stop_reason) == ("It says: sunny", (), "end_turn")
    assert llm.calls[-1].history == tuple(history)
    assert llm.calls[-1].tools == ("web_fetch",)


@pytest.mark.anyio
async def test_with_a_latency_the_mock_holds_one_of_llm_max_concurrency_slots_per_call() -> None:
    settings = LLMConfig(mode="mock", max_concurrency=2, mock=MockLLMConfig(latency_seconds=0.01))
    mock = MockLLM.from_config(Config(llm=settings))
    most_borrowed = most_waiting = 0
    done = anyio.Event()

    async def calls() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: mock.complete(system="s", prompt="p", layer=Layer.L2))
        done.set()

    async with mock, anyio.create_task_group() as tg:
        tg.start_soon(calls)
        while not done.is_set():  # what the limiter holds, at every turn of the loop until all are answered
            statistics = mock.limiter.statistics()
            most_borrowed = max(most_borrowed, statistics.borrowed_tokens)
            most_waiting = max(most_waiting, statistics.tasks_waiting)
            await anyio.lowlevel.checkpoint()
    assert (most_borrowed, most_waiting) == (2, 3)  # two in their latency, three waiting for a slot
    assert mock.metrics.sample(CALLS, {"mode": "mock", "model": "mock-claude", "status": "success"}) == 5
