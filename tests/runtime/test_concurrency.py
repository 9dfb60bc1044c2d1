"""Neurons that work on several signals at once: the bound, order at 1, and nothing lost on a crash or stop."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from hal9 import Config, Layer, Neuron, Runtime, Signal
from hal9.config import NeuronConfig, RuntimeConfig
from tests.support import FAST_BACKOFF, LLM_ONLY, Echo, Fan, config, sample


class Held(Neuron):
    """Holds every signal in process() until ``release`` is set; counts how many are inside at once."""

    layer = Layer.L2

    def __init__(self, id: str, *, inside_target: int = 0, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.inside = 0
        self.most_inside = 0
        self.inside_target = inside_target
        self.reached = anyio.Event()
        self.release = anyio.Event()
        self.seen: list[Any] = []

    async def process(self, signal: Signal) -> Any:
        self.seen.append(signal.content)
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        if self.inside == self.inside_target:
            self.reached.set()
        try:
            await self.release.wait()
        finally:
            self.inside -= 1
        return signal.content


class Recorder(Neuron):
    """Yields once in process(), recording the order in which signals start and end."""

    layer = Layer.L2

    def __init__(self, id: str, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.timeline: list[tuple[str, Any]] = []

    @property
    def started(self) -> list[Any]:
        return [content for what, content in self.timeline if what == "start"]

    @property
    def ended(self) -> list[Any]:
        return [content for what, content in self.timeline if what == "end"]

    async def process(self, signal: Signal) -> Any:
        self.timeline.append(("start", signal.content))
        await anyio.lowlevel.checkpoint()
        self.timeline.append(("end", signal.content))
        return signal.content


@pytest.mark.anyio
async def test_a_neuron_with_concurrency_n_has_exactly_n_signals_in_process_under_load() -> None:
    held = Held("worker", concurrency=4, inside_target=4, mailbox_capacity=16)
    async with Runtime(config(), neurons=[held]) as rt:
        requests = [await rt.submit(f"r{i}") for i in range(12)]
        await held.reached.wait()
        # Let every task that could run do so: none may take a fifth signal.
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert (held.inside, held.status.in_flight, held.status.queue_size) == (4, 4, 8)
        assert sample(rt, "hal9_neuron_state", neuron_id="worker", state="processing") == 1
        held.release.set()
        results = [await rt.wait(request) for request in requests]
        assert sample(rt, "hal9_neuron_state", neuron_id="worker", state="idle") == 1

    assert held.most_inside == 4
    assert [r.status for r in results] == ["completed"] * 12
    assert held.status.processed == 12
    assert sample(rt, "hal9_signals_processed_total", neuron_id="worker", layer="L2", status="success") == 12
    assert sample(rt, "hal9_signal_processing_duration_seconds_count", neuron_id="worker", layer="L2") == 12


@pytest.mark.anyio
async def test_concurrency_one_keeps_the_order_of_signals() -> None:
    recorder = Recorder("ordered", concurrency=1)
    async with Runtime(config(), neurons=[recorder]) as rt:
        requests = [await rt.submit(i) for i in range(20)]
        for request in requests:
            await rt.wait(request)
    assert recorder.started == recorder.ended == list(range(20))


@pytest.mark.anyio
async def test_with_concurrency_each_signal_is_answered_once_with_its_own_result() -> None:
    recorder = Recorder("overlapping", concurrency=8)
    async with Runtime(config(), neurons=[recorder]) as rt:
        requests = [await rt.submit(i) for i in range(20)]
        results = [await rt.wait(request) for request in requests]
    assert sorted(recorder.started) == sorted(recorder.ended) == list(range(20))
    assert [r.outputs for r in results] == [(i,) for i in range(20)]


def crash_routing_of_first(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Routing the output of the signal "first" raises: the neuron's loop crashes on it (after process())."""
    forward = rt.router.forward

    async def forward_crashing_on_first(neuron: Neuron, signal: Signal, *args: Any) -> None:
        if signal.content == "first":
            raise RuntimeError("routing broke")
        waiting = forward(neuron, signal, *args)
        if waiting is not None:
            await waiting

    monkeypatch.setattr(rt.router, "forward", forward_crashing_on_first)


@pytest.mark.anyio
async def test_a_crash_with_signals_in_flight_finishes_them_and_restarts_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = Held("worker", concurrency=3, inside_target=3, restart_backoff=FAST_BACKOFF)
    rt = Runtime(config(), neurons=[held])
    crash_routing_of_first(rt, monkeypatch)
    async with rt:
        first, *others = [await rt.submit(name) for name in ("first", "second", "third")]
        await held.reached.wait()
        queued = [await rt.submit(f"queued {i}") for i in range(3)]
        held.release.set()
        crashed = await rt.wait(first)
        results = [await rt.wait(request) for request in (*others, *queued)]
        assert held.status.healthy

    assert held.status.restarts == 1
    assert crashed.status == "failed"
    assert [(e.neuron_id, e.error) for e in crashed.errors] == [("worker", "RuntimeError")]
    assert [r.status for r in results] == ["completed"] * 5
    assert sorted(held.seen) == sorted(["first", "second", "third", "queued 0", "queued 1", "queued 2"])


@pytest.mark.anyio
async def test_a_crash_stops_the_idle_workers_without_losing_a_signal_and_the_restarted_loop_takes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two of four workers hold signals when one crashes; the two waiting for work stop and take nothing."""
    held = Held("worker", concurrency=4, inside_target=2, restart_backoff=FAST_BACKOFF)
    rt = Runtime(config(), neurons=[held])
    crash_routing_of_first(rt, monkeypatch)
    async with rt:
        first, second = [await rt.submit(name) for name in ("first", "second")]
        await held.reached.wait()
        held.release.set()
        crashed = await rt.wait(first)
        assert (await rt.wait(second)).status == "completed"
        later = [await rt.submit(f"later {i}") for i in range(6)]
        results = [await rt.wait(request) for request in later]
        assert held.status.healthy

    assert held.status.restarts == 1
    assert crashed.status == "failed"
    assert [r.status for r in results] == ["completed"] * 6
    assert sorted(held.seen) == sorted(["first", "second", *(f"later {i}" for i in range(6))])


@pytest.mark.anyio
async def test_remove_with_signals_in_flight_finishes_them_and_each_trace_ends_once() -> None:
    held = Held("worker", concurrency=3, inside_target=3)
    async with Runtime(config(), neurons=[held]) as rt:
        completions: list[str] = []
        subscription = rt.events.subscribe(buffer=256)
        requests = [await rt.submit(f"r{i}") for i in range(5)]
        await held.reached.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.remove, "worker")
            await anyio.lowlevel.checkpoint()
            held.release.set()
        results = [await rt.wait(request) for request in requests]
        subscription.close()
        completions = [e["trace_id"] async for e in subscription if e["type"] == "signal.completed"]
    assert [r.status for r in results] == ["completed"] * 5
    assert sorted(completions) == sorted(requests)
    assert "worker" not in rt.neurons


@pytest.mark.anyio
async def test_a_drain_waits_for_every_signal_in_flight() -> None:
    held = Held("worker", concurrency=4, inside_target=4)
    rt = Runtime(config(), neurons=[held])
    async with rt:
        requests = [await rt.submit(f"r{i}") for i in range(6)]
        await held.reached.wait()
        held.release.set()
    assert [rt.lookup(request).status for request in requests] == ["completed"] * 6
    assert rt.active_requests == 0


class Eight(Neuron):
    concurrency = 8

    async def process(self, signal: Signal) -> Any:
        return signal.content


@pytest.mark.anyio
async def test_concurrency_comes_from_the_entry_then_the_class_then_the_runtime_default() -> None:
    neurons = (
        NeuronConfig(id="entry", layer=Layer.L2, kind="tests.runtime.test_concurrency:Eight", concurrency=2),
        NeuronConfig(id="class", layer=Layer.L2, kind="tests.runtime.test_concurrency:Eight"),
        NeuronConfig(id="default", layer=Layer.L2, kind="tests.support:Echo"),
        NeuronConfig(id="llm", layer=Layer.L2, kind="implementation"),
    )
    rt = Runtime(Config(server_id="t", runtime=RuntimeConfig(neuron_concurrency=5), neurons=neurons, services=LLM_ONLY))
    assert {n.id: n.status.concurrency for n in rt.neurons.values()} == {
        "entry": 2,
        "class": 8,
        "default": 5,
        "llm": 64,
    }
    assert Runtime(config(), neurons=[Echo("plain")]).neuron("plain").status.concurrency == 1


def test_a_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Echo("zero", concurrency=0)


@pytest.mark.anyio
async def test_a_fan_out_into_a_full_mailbox_waits_for_room_and_delivers_the_rest_in_order() -> None:
    fan = Fan("fan", ["a", "b", "c", "d"])
    held = Held("held", concurrency=1, inside_target=1, mailbox_capacity=1)
    rt = Runtime(config(send_timeout=10), neurons=[fan, held])
    rt.connect("fan", "held")
    async with rt:
        request = await rt.submit("x")
        await held.reached.wait()  # "x.a" inside, "x.b" queued: "x.c" waits for room
        await anyio.wait_all_tasks_blocked()
        assert (held.status.queue_size, rt.lookup(request).status) == (1, "pending")
        held.release.set()
        result = await rt.wait(request)
    assert result.status == "completed"
    assert held.seen == ["x.a", "x.b", "x.c", "x.d"]
    assert sorted(result.outputs) == ["x.a", "x.b", "x.c", "x.d"]
    assert sample(rt, "hal9_signals_forwarded_total", from_neuron="fan", to_neuron="held") == 4
