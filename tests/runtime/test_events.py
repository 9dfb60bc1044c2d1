"""Runtime events for live observers: what a request publishes, and slow observers cut off."""

from __future__ import annotations

import gc

import anyio
import pytest

from hal9 import Layer, Runtime
from tests.support import Boom, Echo, config


def two_neurons() -> Runtime:
    rt = Runtime(config(), neurons=[Echo("upper", layer=Layer.L3), Echo("lower")])
    rt.connect("upper", "lower")
    return rt


@pytest.mark.anyio
async def test_subscriber_receives_submitted_forwarded_state_and_completed_events_in_order() -> None:
    async with two_neurons() as rt:
        subscription = rt.events.subscribe(buffer=64)
        result = await rt.ask("hello")
        subscription.close()
        events = [event async for event in subscription]

    assert [(e["type"], e.get("neuron_id"), e.get("state")) for e in events] == [
        ("signal.submitted", None, None),
        ("neuron.state", "upper", "processing"),
        ("signal.processed", "upper", None),
        # A neuron stays "processing" until its output is delivered downstream.
        ("signal.forwarded", None, None),
        ("neuron.state", "upper", "idle"),
        ("neuron.state", "lower", "processing"),
        ("signal.processed", "lower", None),
        ("signal.completed", None, None),
        ("neuron.state", "lower", "idle"),
    ]
    processed = [e for e in events if e["type"] == "signal.processed"]
    assert [(e["signal_id"], e["parent_id"], e["status"]) for e in processed] == [
        (hop.signal_id, hop.parent_id, hop.status) for hop in result.path
    ]
    submitted, forwarded, completed = (
        e for e in events if e["type"] in ("signal.submitted", "signal.forwarded", "signal.completed")
    )
    assert submitted["signal_id"] == submitted["trace_id"] == result.id
    assert submitted["entries"] == ["upper"]
    assert forwarded["trace_id"] == result.id
    assert forwarded["parent_id"] == result.id
    assert (forwarded["from_neuron"], forwarded["to_neuron"]) == ("upper", "lower")
    assert forwarded["signal_id"] == result.path[1].signal_id
    assert completed["trace_id"] == result.id
    assert completed["status"] == "completed"
    assert list(completed["outputs"]) == ["hello"]
    assert completed["errors"] == 0
    assert all(isinstance(e["time"], float) for e in events)


@pytest.mark.anyio
async def test_failed_branch_publishes_signal_failed_and_error_state() -> None:
    async with Runtime(config(), neurons=[Boom("picky")]) as rt:
        subscription = rt.events.subscribe()
        result = await rt.ask("bad")
        subscription.close()
        events = [event async for event in subscription]

    failed = [e for e in events if e["type"] == "signal.failed"]
    assert [(e["neuron_id"], e["error"], e["trace_id"]) for e in failed] == [("picky", "ValueError", result.id)]
    assert ("picky", "error") in [(e["neuron_id"], e["state"]) for e in events if e["type"] == "neuron.state"]
    assert events[-1]["type"] == "signal.completed"
    assert events[-1]["status"] == "failed"
    assert events[-1]["errors"] == 1


@pytest.mark.anyio
async def test_subscriber_whose_buffer_overflows_is_cut_off_without_blocking_the_runtime() -> None:
    async with two_neurons() as rt:
        slow = rt.events.subscribe(buffer=1)
        keeping_up = rt.events.subscribe(buffer=64)
        first = await rt.ask("one")  # seven events into a buffer of one
        assert slow.overflowed
        assert not keeping_up.overflowed
        second = await rt.ask("two")  # the runtime carries on; the cut-off subscriber gets nothing more
        keeping_up.close()
        slow_events = [event async for event in slow]
        all_events = [event async for event in keeping_up]

    assert first.ok
    assert second.ok
    assert [e["type"] for e in slow_events] == ["signal.submitted"]
    assert slow_events[0]["trace_id"] == first.id
    completed = [e["trace_id"] for e in all_events if e["type"] == "signal.completed"]
    assert completed == [first.id, second.id]
    assert not rt.events.active


@pytest.mark.anyio
async def test_closed_subscription_stops_receiving_and_the_bus_goes_quiet() -> None:
    async with Runtime(config(), neurons=[Echo("n")]) as rt:
        subscription = rt.events.subscribe()
        assert rt.events.active
        subscription.close()
        assert not rt.events.active
        await rt.ask("unseen")
        assert [event async for event in subscription] == []


@pytest.mark.anyio
async def test_subscription_dropped_without_being_read_leaves_nothing_to_close() -> None:
    """A client that leaves before reading must not leak an unclosed stream (a ResourceWarning, an error here)."""
    async with Runtime(config(), neurons=[Echo("n")]) as rt:
        subscription = rt.events.subscribe(buffer=2)
        await rt.ask("x")  # overflows it, too
        assert subscription.overflowed
        del subscription
        gc.collect()


@pytest.mark.anyio
async def test_reader_waiting_for_events_gets_them_as_they_are_published() -> None:
    async with Runtime(config(), neurons=[Echo("n")]) as rt:
        subscription = rt.events.subscribe()
        seen: list[str] = []

        async def read() -> None:
            async for event in subscription:
                seen.append(event["type"])
                if event["type"] == "signal.completed":
                    subscription.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await anyio.wait_all_tasks_blocked()
            await rt.ask("x")
    assert seen[0] == "signal.submitted"
    assert "signal.completed" in seen


@pytest.mark.anyio
async def test_a_subscription_to_one_trace_gets_only_its_events_and_other_traffic_never_fills_it() -> None:
    async with two_neurons() as rt:
        mine = await rt.submit("mine")
        subscription = rt.events.subscribe(buffer=4, trace_id=mine)
        others = [await rt.submit(f"other {i}") for i in range(10)]  # dozens of events, none of them its
        for request in (mine, *others):
            await rt.wait(request)
        subscription.close()
        events = [event async for event in subscription]
    assert not subscription.overflowed
    assert events
    assert {event["trace_id"] for event in events} == {mine}
