"""The built-in neurons read model replies robustly: fences, prose, broken JSON, caps and duplicates."""

from __future__ import annotations

import json

import pytest

from hal9 import Layer, MockLLM, Runtime
from hal9.config import MockReply
from hal9.neurons import DesignNeuron, ImplementationNeuron, StrategicNeuron
from hal9.neurons.builtin import MAX_CONTENT_CHARS, MAX_DIRECTIVES, LLMNeuron
from tests.support import config


def directives(*items: str) -> str:
    return json.dumps({"directives": list(items)})


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (directives("a", "b"), ["a", "b"]),
        (f"```json\n{directives('a', 'b')}\n```", ["a", "b"]),
        (f"```\n{directives('a', 'b', 'c')}\n```\n", ["a", "b", "c"]),
        (f"Sure! Here is the plan:\n{directives('a', 'b')}\nLet me know if that helps.", ["a", "b"]),
        (f"Use {{placeholders}} like {{x}} sparingly. {directives('a', 'b')}", ["a", "b"]),
        (f'{{"note": "first object is not it"}} then {directives("a", "b")}', ["a", "b"]),
        (f'{{"plan": {directives("inner", "also")}}}', ["inner", "also"]),
    ],
    ids=["bare", "json-fence", "plain-fence", "prose-around", "braces-in-prose", "second-object", "nested"],
)
def test_strategic_finds_the_directives_object_wherever_it_is(reply: str, expected: list[str]) -> None:
    assert StrategicNeuron("s").interpret(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        '{"directives": ["a", "b"',  # cut off
        "{'directives': ['a', 'b']}",  # Python, not JSON
        '{"directives": "a and b"}',  # wrong shape
        "1. Do this\n2. Do that",  # no JSON at all
    ],
)
def test_strategic_falls_back_to_the_whole_reply_as_one_directive(reply: str) -> None:
    assert StrategicNeuron("s").interpret(f"  {reply}\n") == [reply]


def test_strategic_empty_reply_still_gives_one_directive() -> None:
    assert StrategicNeuron("s").interpret("   ") == ["(empty directive)"]


def test_strategic_caps_directives_at_three() -> None:
    assert MAX_DIRECTIVES == 3
    assert StrategicNeuron("s").interpret(directives("1", "2", "3", "4", "5")) == ["1", "2", "3"]


def test_strategic_removes_duplicates_and_blanks_keeping_order() -> None:
    reply = directives("a", " a ", "", "b", "   ", "a", "c", "b", "d")
    assert StrategicNeuron("s").interpret(reply) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("neuron", "key"),
    [(DesignNeuron("d"), "design"), (ImplementationNeuron("i"), "answer")],
)
def test_design_and_implementation_read_their_key_or_fall_back_to_the_text(neuron: LLMNeuron, key: str) -> None:
    assert neuron.interpret(f"Here you go:\n```json\n{json.dumps({key: 'the part'})}\n```") == "the part"
    assert neuron.interpret(f'  {{"{key}": "unterminated  ') == f'{{"{key}": "unterminated'
    assert neuron.interpret("  just text \n") == "just text"


def test_built_in_neurons_sit_on_their_layers() -> None:
    assert [StrategicNeuron("s").layer, DesignNeuron("d").layer, ImplementationNeuron("i").layer] == [
        Layer.L4,
        Layer.L3,
        Layer.L2,
    ]


@pytest.mark.anyio
async def test_fenced_reply_with_too_many_and_repeated_directives_fans_out_to_three_unique_branches() -> None:
    reply = f"Plan:\n```json\n{directives('x', 'y', 'x', 'z', 'w')}\n```"
    llm = MockLLM([MockReply(layer=Layer.L4, reply=reply)])
    async with Runtime(config(), services={"llm": llm}) as rt:
        result = await rt.ask("anything")

    assert result.status == "completed"
    assert len(result.outputs) == 3
    design_prompts = sorted(call.prompt for call in llm.calls if call.layer is Layer.L3)
    assert design_prompts == ["x", "y", "z"]
    assert [call.system for call in llm.calls if call.layer is Layer.L4] == [StrategicNeuron.prompt]


@pytest.mark.anyio
async def test_unparseable_strategic_reply_still_flows_as_one_branch() -> None:
    llm = MockLLM([MockReply(layer=Layer.L4, reply="I would rather just do it all at once.")])
    async with Runtime(config(), services={"llm": llm}) as rt:
        result = await rt.ask("anything")
    assert result.status == "completed"
    assert len(result.outputs) == 1
    assert [call.prompt for call in llm.calls if call.layer is Layer.L3] == ["I would rather just do it all at once."]


@pytest.mark.anyio
async def test_huge_input_is_cut_to_a_bounded_prompt() -> None:
    llm = MockLLM()
    async with Runtime(config(), services={"llm": llm}) as rt:
        await rt.ask("x" * (MAX_CONTENT_CHARS * 3))
    first = llm.calls[0]
    assert first.layer is Layer.L4
    assert len(first.prompt) == MAX_CONTENT_CHARS
