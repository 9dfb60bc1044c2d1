"""A Neuron subclass owns every attribute name that is not the documented API; those it may not take are refused
when the class is created, with a message naming them."""

from __future__ import annotations

from typing import Any

import pytest

from hal9 import Layer, Neuron, Runtime, Signal
from tests.support import config, sample


class OwnNames(Neuron):
    """Uses names the base class once owned (state, stats, mailbox, running...) for its own data."""

    layer = Layer.L2
    concurrency = 1
    stats = "class-level, the subclass's own"

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.state: dict[str, int] = {}
        self.mailbox: list[str] = []
        self.running = "not a flag"
        self.downstream = "nowhere"
        self.processed = -1
        self.healthy = False
        self.restarts = "never"
        self._memory: list[str] = []
        self._runtime = "mine"
        self._router = None

    async def process(self, signal: Signal) -> Any:
        self.state[signal.content] = self.state.get(signal.content, 0) + 1
        self.mailbox.append(signal.content)
        self._memory.append(signal.content)
        return self.state[signal.content]


@pytest.mark.anyio
async def test_a_subclass_may_use_state_stats_mailbox_and_other_former_base_names_for_its_own_data() -> None:
    neuron = OwnNames("own")
    async with Runtime(config(), neurons=[neuron]) as rt:
        results = [await rt.ask(word) for word in ("a", "b", "a")]
        assert sample(rt, "hal9_neuron_state", neuron_id="own", state="idle") == 1
        assert sample(rt, "hal9_signals_processed_total", neuron_id="own", layer="L2", status="success") == 3

    assert [result.outputs for result in results] == [(1,), (1,), (2,)]
    assert neuron.state == {"a": 2, "b": 1}
    assert neuron.mailbox == ["a", "b", "a"]
    assert (neuron.running, neuron.processed, neuron.stats) == ("not a flag", -1, "class-level, the subclass's own")
    assert neuron.status.processed == 3
    assert neuron.status.state == "idle"
    assert neuron.status.healthy is False  # stopped with the runtime


@pytest.mark.parametrize("name", ["tools", "llm", "memory", "id", "runtime", "status", "_hal9"])
def test_assigning_an_api_name_on_self_is_refused_when_the_class_is_created(name: str) -> None:
    source = f"""
class Mine(Neuron):
    def __init__(self, id):
        super().__init__(id)
        self.{name} = ["mine"]

    async def process(self, signal):
        return None
"""
    with pytest.raises(TypeError, match=rf"Mine\.__init__ sets self\.{name}, which is part of the Neuron base class"):
        exec(source, {"Neuron": Neuron})


def test_an_assignment_in_a_nested_function_is_seen_too() -> None:
    with pytest.raises(TypeError, match=r"sets self\.tools"):

        class Mine(Neuron):
            async def process(self, signal: Signal) -> Any:
                def keep() -> None:
                    self.tools = []  # type: ignore[misc]

                keep()
                return None


@pytest.mark.parametrize("name", ["tools", "system_prompt", "note_failure", "service", "status"])
def test_defining_an_api_name_in_the_class_body_is_refused_with_what_it_is(name: str) -> None:
    with pytest.raises(TypeError, match=rf"Mine defines '{name}', which is part of the Neuron base class \(\w"):
        type("Mine", (Neuron,), {name: ["mine"], "process": OwnNames.process})


def test_the_documented_settings_and_hooks_may_be_set_and_overridden() -> None:
    class Configured(Neuron):
        layer = Layer.L3
        prompt = "be brief"
        concurrency = 2
        remember_chars = 10

        def __init__(self, id: str) -> None:  # noqa: A002
            super().__init__(id)
            self.prompt = "be briefer"

        async def process(self, signal: Signal) -> Any:
            return None

        def memories(self, signal: Signal, output: Any, error: Exception | None) -> list[Any]:
            return []

    neuron = Configured("c")
    assert (neuron.id, neuron.layer, neuron.prompt, neuron.concurrency) == ("c", Layer.L3, "be briefer", 2)


def test_the_identity_of_a_neuron_cannot_be_changed_from_outside() -> None:
    neuron = OwnNames("own")
    with pytest.raises(AttributeError):
        neuron.id = "other"  # type: ignore[misc]
