"""The network's shape: no cycles, no unknown ids, entries, and removing a neuron with its series."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from hal9 import Layer, Runtime
from hal9.errors import TopologyError
from hal9.runtime.topology import Topology
from tests.support import Echo, Gate, config, sample


def graph(*edges: str) -> Topology:
    """A topology from ``"a>b"`` edges (nodes added as they appear)."""
    topology = Topology()
    for edge in edges:
        for node in edge.split(">"):
            if node not in topology._downstream:
                topology.add(node)
        if ">" in edge:
            topology.connect(*edge.split(">"))
    return topology


# -- Topology ------------------------------------------------------------------------------


@pytest.mark.parametrize("closing_edge", [("c", "a"), ("b", "a"), ("c", "b"), ("a", "a")])
def test_connection_that_would_close_a_cycle_is_refused_and_changes_nothing(closing_edge: tuple[str, str]) -> None:
    topology = graph("a>b", "b>c")
    with pytest.raises(TopologyError, match="cycle"):
        topology.connect(*closing_edge)
    assert topology.edges() == [("a", "b"), ("b", "c")]


def test_unknown_and_duplicate_ids_are_refused() -> None:
    topology = graph("a>b")
    with pytest.raises(TopologyError, match="unknown"):
        topology.connect("a", "ghost")
    with pytest.raises(TopologyError, match="unknown"):
        topology.connect("ghost", "a")
    with pytest.raises(TopologyError, match="unknown"):
        topology.remove("ghost")
    with pytest.raises(TopologyError, match="already exists"):
        topology.add("a")
    assert topology.edges() == [("a", "b")]


def test_entries_are_the_nodes_nothing_forwards_to() -> None:
    topology = graph("a>b", "c", "d>b")
    assert topology.entries() == ("a", "c", "d")
    topology.connect("a", "c")
    assert topology.entries() == ("a", "d")
    assert topology.upstream("b") == ("a", "d")
    assert topology.downstream("a") == ("b", "c")


def test_connecting_twice_adds_one_edge() -> None:
    topology = graph("a>b")
    topology.connect("a", "b")
    assert topology.edges() == [("a", "b")]


def test_remove_drops_the_node_and_its_edges_and_returns_its_upstream() -> None:
    topology = graph("a>b", "c>b", "b>d")
    assert topology.remove("b") == ["a", "c"]
    assert topology.edges() == []
    assert topology.entries() == ("a", "c", "d")


# -- the runtime's network ----------------------------------------------------------------------


def test_runtime_refuses_a_cycle_and_unknown_ids() -> None:
    rt = Runtime(config(), neurons=[Echo("a", layer=Layer.L3), Echo("b")])
    rt.connect("a", "b")
    with pytest.raises(TopologyError, match="cycle"):
        rt.connect("b", "a")
    with pytest.raises(TopologyError):
        rt.connect("a", "ghost")
    with pytest.raises(TopologyError):
        rt.neuron("ghost")
    with pytest.raises(TopologyError, match="already exists"):
        rt.add(Echo("a"))
    assert rt.topology.edges() == [("a", "b")]
    assert rt.neuron("a").status.downstream == ("b",)


def test_adding_a_neuron_with_an_unknown_downstream_id_leaves_nothing_behind() -> None:
    rt = Runtime(config(), neurons=[Echo("a")])
    with pytest.raises(TopologyError):
        rt.add(Echo("b", layer=Layer.L3), downstream=["a", "ghost"])
    assert sorted(rt.neurons) == ["a"]
    assert rt.topology.edges() == []
    assert [n.id for n in rt.entries] == ["a"]
    rt.add(Echo("b", layer=Layer.L3), downstream=["a"])  # the id is still free
    assert rt.topology.edges() == [("b", "a")]


def test_entries_are_neurons_with_no_upstream_top_layer_first() -> None:
    neurons = [Echo("low"), Echo("top", layer=Layer.L4), Echo("mid", layer=Layer.L3), Echo("z", layer=Layer.L4)]
    rt = Runtime(config(), neurons=neurons)
    assert [n.id for n in rt.entries] == ["top", "z", "mid", "low"]
    rt.connect("top", "mid")
    rt.connect("mid", "low")
    assert [n.id for n in rt.entries] == ["top", "z"]


@pytest.mark.anyio
async def test_request_enters_every_entry_neuron() -> None:
    async with Runtime(config(), neurons=[Echo("one", layer=Layer.L3), Echo("two")]) as rt:
        result = await rt.ask("x")
    assert result.status == "completed"
    assert result.outputs == ("x", "x")
    assert sorted(hop.neuron_id for hop in result.path) == ["one", "two"]
    assert [hop.parent_id for hop in result.path] == [None, None]


def series(rt: Runtime, neuron_id: str) -> dict[str, Any]:
    """Every series that names ``neuron_id``, as {description: value}."""
    found = {}
    for metric in rt.metrics.registry.collect():
        for s in metric.samples:
            if neuron_id in (s.labels.get("neuron_id"), s.labels.get("from_neuron"), s.labels.get("to_neuron")):
                found[f"{s.name}{sorted(s.labels.items())}"] = s.value
    return found


@pytest.mark.anyio
async def test_removed_neuron_stops_and_its_metric_series_disappear() -> None:
    rt = Runtime(config(), neurons=[Echo("a", layer=Layer.L4), Echo("b", layer=Layer.L3), Echo("c")])
    rt.connect("a", "b")
    rt.connect("b", "c")
    async with rt:
        before = await rt.ask("x")
        b = rt.neuron("b")
        assert series(rt, "b")  # processed, duration, forwarded in and out, health, state, queue
        assert sample(rt, "hal9_signals_forwarded_total", from_neuron="a", to_neuron="b") == 1

        await rt.remove("b")

        assert not b.status.healthy
        assert "b" not in rt.neurons
        assert rt.topology.edges() == []
        assert series(rt, "b") == {}
        labels = {"neuron_id": "b", "layer": "L3"}
        assert sample(rt, "hal9_signals_processed_total", **labels, status="success") is None
        assert sample(rt, "hal9_signal_processing_duration_seconds_count", **labels) is None
        assert sample(rt, "hal9_signals_forwarded_total", from_neuron="b", to_neuron="c") is None
        # The others keep their series and the network keeps serving, now as two entries.
        assert sample(rt, "hal9_signals_processed_total", neuron_id="a", layer="L4", status="success") == 1
        after = await rt.ask("y")

    assert before.outputs == ("x",)
    assert [n.id for n in rt.entries] == ["a", "c"]
    assert after.outputs == ("y", "y")


@pytest.mark.anyio
async def test_remove_lets_the_neuron_finish_what_is_queued_first() -> None:
    gate = Gate("slow")
    async with Runtime(config(), neurons=[gate, Echo("other", layer=Layer.L3)]) as rt:
        first = await rt.submit("first")
        await gate.entered.wait()
        second = await rt.submit("second")
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.remove, "slow")
            gate.release.set()
        assert not gate.status.healthy
        assert [(await rt.wait(r)).status for r in (first, second)] == ["completed", "completed"]
    assert gate.seen == ["first", "second"]


@pytest.mark.anyio
async def test_remove_during_a_restart_backoff_waits_for_the_restarted_loop_to_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate("flaky", restart_backoff=(0.2, 0.2))  # a window wide enough to remove it in
    rt = Runtime(config(), neurons=[gate])
    forward = rt.router.forward
    crashed = False

    async def forward_crashing_once(*args: Any, **kwargs: Any) -> None:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise RuntimeError("routing broke")
        waiting = forward(*args, **kwargs)
        if waiting is not None:
            await waiting

    monkeypatch.setattr(rt.router, "forward", forward_crashing_once)
    async with rt:
        crashing = await rt.submit("crashes")
        await gate.entered.wait()
        queued = await rt.submit("queued")
        gate.release.set()
        assert (await rt.wait(crashing)).status == "failed"
        assert not gate.status.healthy  # backing off before its restart

        await rt.remove("flaky")

        assert gate.status.restarts == 1
        assert rt.lookup(queued).status == "completed"
        assert rt.lookup(queued).outputs == ("queued",)
        assert sample(rt, "hal9_signals_processed_total", neuron_id="flaky", layer="L2", status="success") is None
