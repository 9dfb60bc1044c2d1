"""The Runtime: routing, fan-out, failures, supervision, back-pressure and draining."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

import hal9.runtime.runtime as runtime_module
from hal9 import Config, Layer, Memory, Neuron, Runtime, Signal
from hal9.config import NeuronConfig, RuntimeConfig
from hal9.config.runtime import BUILTIN_KIND_NAMES
from hal9.errors import MailboxFull, RuntimeNotRunning, ServiceUnavailable, TopologyError, TraceNotFound
from hal9.llm.mock import template_reply
from hal9.runtime.assembly import BUILTIN_NEURON_KINDS
from tests.runtime.conftest import asyncio_only
from tests.support import FAST_BACKOFF, Boom, Drop, Echo, Fan, Gate, Stuck, config, sample

SHORT_REQUEST = "Build a todo app"  # 4 words: the mock's L4 template gives 2 directives
LONG_REQUEST = "Build a todo app with users, tags, reminders and sharing"  # > 6 words: 3 directives


# -- the default L4 -> L3 -> L2 network ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("request_text", "fan_out"), [(SHORT_REQUEST, 2), (LONG_REQUEST, 3)])
async def test_default_network_flows_l4_l3_l2_with_fan_out_by_input_length(request_text: str, fan_out: int) -> None:
    async with Runtime(config()) as rt:
        result = await rt.ask(request_text)

    assert result.status == "completed"
    assert result.ok
    assert result.errors == ()
    assert len(result.outputs) == fan_out
    assert all(output.startswith("Implemented: ") for output in result.outputs)
    layers = [hop.layer for hop in result.path]
    assert layers.count(Layer.L4) == 1
    assert layers.count(Layer.L3) == fan_out
    assert layers.count(Layer.L2) == fan_out
    assert result.duration >= 0


@pytest.mark.anyio
async def test_result_path_links_every_hop_to_a_hop_of_the_layer_above() -> None:
    async with Runtime(config()) as rt:
        result = await rt.ask(LONG_REQUEST)

    by_layer: dict[Layer, list[Any]] = {}
    for hop in result.path:
        by_layer.setdefault(hop.layer, []).append(hop)
    (root,) = by_layer[Layer.L4]
    assert root.parent_id is None
    assert root.signal_id == result.id
    assert root.neuron_id == "strategic"
    for layer, upper in ((Layer.L3, Layer.L4), (Layer.L2, Layer.L3)):
        upper_ids = {hop.signal_id for hop in by_layer[upper]}
        assert by_layer[layer], layer
        for hop in by_layer[layer]:
            assert hop.parent_id in upper_ids
            assert hop.status == "success"
    # Each L3 hop has exactly one L2 child: the links form a tree, not a tangle.
    assert sorted(hop.parent_id for hop in by_layer[Layer.L2]) == sorted(hop.signal_id for hop in by_layer[Layer.L3])
    assert len({hop.signal_id for hop in result.path}) == len(result.path)


@pytest.mark.anyio
async def test_processed_and_forwarded_counters_equal_the_signals_sent() -> None:
    async with Runtime(config()) as rt:
        short = await rt.ask(SHORT_REQUEST)
        long = await rt.ask(LONG_REQUEST)
        fan_out = len(short.outputs) + len(long.outputs)
        assert fan_out == 5

        expected = {("strategic", "L4"): 2, ("design", "L3"): fan_out, ("implementation", "L2"): fan_out}
        for (neuron_id, layer), count in expected.items():
            labels = {"neuron_id": neuron_id, "layer": layer}
            assert sample(rt, "hal9_signals_processed_total", **labels, status="success") == count
            assert sample(rt, "hal9_signals_processed_total", **labels, status="error") == 0
            assert sample(rt, "hal9_signal_processing_duration_seconds_count", **labels) == count
            assert rt.neuron(neuron_id).status.processed == count
        forwarded = "hal9_signals_forwarded_total"
        assert sample(rt, forwarded, from_neuron="strategic", to_neuron="design") == fan_out
        assert sample(rt, forwarded, from_neuron="design", to_neuron="implementation") == fan_out
        # One LLM call per hop, measured as the mock.
        calls = sample(rt, "hal9_claude_api_calls_total", mode="mock", model="mock-claude", status="success")
        assert calls == 2 + 2 * fan_out


# -- custom neurons ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_output_fans_out_one_signal_per_element_to_every_downstream() -> None:
    rt = Runtime(config(), neurons=[Fan("split", ["a", "b", "c"]), Echo("left"), Echo("right")])
    rt.connect("split", "left")
    rt.connect("split", "right")
    async with rt:
        result = await rt.ask("x")

    assert result.status == "completed"
    assert sorted(result.outputs) == sorted(["x.a", "x.b", "x.c"] * 2)
    assert sample(rt, "hal9_signals_forwarded_total", from_neuron="split", to_neuron="left") == 3
    assert sample(rt, "hal9_signals_forwarded_total", from_neuron="split", to_neuron="right") == 3
    assert sample(rt, "hal9_signals_processed_total", neuron_id="left", layer="L2", status="success") == 3


@pytest.mark.anyio
async def test_none_output_ends_the_branch_without_an_output() -> None:
    rt = Runtime(config(), neurons=[Fan("split", ["keep", "drop", "keep2"]), Drop("filter"), Echo("sink")])
    rt.connect("split", "filter")
    rt.connect("filter", "sink")
    async with rt:
        result = await rt.ask("x")

    assert result.status == "completed"
    assert sorted(result.outputs) == ["x.keep", "x.keep2"]
    assert sample(rt, "hal9_signals_forwarded_total", from_neuron="filter", to_neuron="sink") == 2
    # The dropped branch was processed successfully; it just produced nothing.
    assert sample(rt, "hal9_signals_processed_total", neuron_id="filter", layer="L3", status="success") == 3
    assert [hop.neuron_id for hop in result.path].count("sink") == 2


@pytest.mark.anyio
async def test_empty_list_output_ends_the_branch() -> None:
    async with Runtime(config(), neurons=[Fan("nothing", [])]) as rt:
        result = await rt.ask("x")
    assert result.status == "completed"
    assert result.outputs == ()


@pytest.mark.anyio
async def test_raising_process_fails_only_its_branch_and_names_the_neuron() -> None:
    rt = Runtime(config(), neurons=[Fan("split", ["ok", "bad"]), Boom("picky")])
    rt.connect("split", "picky")
    async with rt:
        result = await rt.ask("x")

        assert result.status == "partial"
        assert result.outputs == ("x.ok",)
        (error,) = result.errors
        assert error.neuron_id == "picky"
        assert error.error == "ValueError"
        assert "x.bad" in error.message
        failed_hops = [hop for hop in result.path if hop.status == "error"]
        assert [hop.signal_id for hop in failed_hops] == [error.signal_id]
        assert sample(rt, "hal9_signals_processed_total", neuron_id="picky", layer="L3", status="error") == 1
        assert sample(rt, "hal9_signals_processed_total", neuron_id="picky", layer="L3", status="success") == 1
        assert sample(rt, "hal9_signal_processing_duration_seconds_count", neuron_id="picky", layer="L3") == 2
        assert rt.neuron("picky").status.failed == 1


@pytest.mark.anyio
async def test_request_whose_every_branch_failed_is_failed_and_the_runtime_serves_the_next() -> None:
    async with Runtime(config(), neurons=[Boom("picky")]) as rt:
        failed = await rt.ask("bad input")
        served = await rt.ask("good input")

    assert failed.status == "failed"
    assert failed.outputs == ()
    assert [(e.neuron_id, e.error) for e in failed.errors] == [("picky", "ValueError")]
    assert served.status == "completed"
    assert served.outputs == ("good input",)


@pytest.mark.anyio
async def test_state_gauge_shows_error_after_a_failure_until_the_next_success() -> None:
    def state(rt: Runtime) -> dict[str, float | None]:
        return {s: sample(rt, "hal9_neuron_state", neuron_id="picky", state=s) for s in ("idle", "processing", "error")}

    async with Runtime(config(), neurons=[Boom("picky")]) as rt:
        assert state(rt) == {"idle": 1, "processing": 0, "error": 0}
        await rt.ask("bad")
        assert state(rt) == {"idle": 0, "processing": 0, "error": 1}
        await rt.ask("fine")
        assert state(rt) == {"idle": 1, "processing": 0, "error": 0}


@pytest.mark.anyio
async def test_state_gauge_shows_processing_while_a_signal_is_in_process() -> None:
    gate = Gate("slow")
    async with Runtime(config(), neurons=[gate]) as rt:
        request = await rt.submit("x")
        await gate.entered.wait()
        assert sample(rt, "hal9_neuron_state", neuron_id="slow", state="processing") == 1
        assert sample(rt, "hal9_neuron_state", neuron_id="slow", state="idle") == 0
        gate.release.set()
        await rt.wait(request)
        assert sample(rt, "hal9_neuron_state", neuron_id="slow", state="idle") == 1


@pytest.mark.anyio
async def test_request_metadata_reaches_the_neuron_read_only() -> None:
    seen: list[Signal] = []

    class Inspect(Neuron):
        async def process(self, signal: Signal) -> str:
            seen.append(signal)
            return "ok"

    async with Runtime(config(), neurons=[Inspect("inspect")]) as rt:
        metadata = {"user": "ada"}
        result = await rt.wait(await rt.submit("x", metadata=metadata))
        metadata["user"] = "changed later"

    assert result.ok
    (signal,) = seen
    assert signal.metadata == {"user": "ada"}
    assert signal.parent_id is None
    assert signal.source == "client"
    assert signal.id == signal.trace_id == result.id
    with pytest.raises(TypeError):
        signal.metadata["user"] = "x"  # type: ignore[index]


@pytest.mark.anyio
async def test_neuron_reaches_runtime_services_and_a_missing_one_fails_its_branch() -> None:
    class UsesServices(Neuron):
        async def process(self, signal: Signal) -> str:
            reply = await self.llm.complete(system="s", prompt=str(signal.content), layer=self.layer)
            if signal.content == "memory":
                self.service(Memory)
            return reply.text

    async with Runtime(config(), neurons=[UsesServices("n")]) as rt:
        ok = await rt.ask("hello")
        missing = await rt.ask("memory")
        with pytest.raises(ServiceUnavailable):
            rt.services.require(Memory)

    assert ok.status == "completed"
    assert ok.outputs == (template_reply("hello", Layer.L2),)
    assert missing.status == "failed"
    assert missing.errors[0].error == "ServiceUnavailable"


@pytest.mark.anyio
@asyncio_only  # the default services include the SQLite memory, which runs on asyncio only
async def test_network_is_built_from_config_including_a_custom_neuron_kind() -> None:
    cfg = Config(
        server_id="test",
        neurons=(
            NeuronConfig(id="first", layer=Layer.L3, kind="tests.support:Echo", downstream=("second",)),
            NeuronConfig(id="second", layer=Layer.L2, kind="tests.support:Echo", mailbox_capacity=3),
        ),
    )
    async with Runtime(cfg) as rt:
        result = await rt.ask("hi")
        assert [n.id for n in rt.entries] == ["first"]
        assert rt.neuron("first").layer is Layer.L3
        assert rt.neuron("second").status.mailbox_capacity == 3
        assert rt.neuron("first").status.mailbox_capacity == cfg.runtime.mailbox_capacity
    assert result.outputs == ("hi",)
    assert [hop.neuron_id for hop in result.path] == ["first", "second"]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("tests.support:Nowhere", "cannot import"),
        ("tests.support:config", "not a Neuron subclass"),
        (":Nowhere", "expected 'package.module:Name'"),
    ],
)
def test_network_with_an_unusable_neuron_kind_is_refused(kind: str, message: str) -> None:
    cfg = Config(server_id="test", neurons=(NeuronConfig(id="n", layer=Layer.L2, kind=kind),))
    with pytest.raises(TopologyError, match=f"neuron 'n', kind: .*{message}"):
        Runtime(cfg)


def test_an_unknown_kind_name_is_refused_with_the_built_in_kinds() -> None:
    with pytest.raises(
        ValidationError, match="unknown kind 'strategc': the built-in kinds are strategic, design, implementation"
    ):
        NeuronConfig(id="n", layer=Layer.L4, kind="strategc")


def test_the_built_in_kind_names_of_the_config_are_the_runtimes() -> None:
    assert tuple(BUILTIN_NEURON_KINDS) == BUILTIN_KIND_NAMES


@pytest.mark.anyio
async def test_neuron_added_while_running_is_started_and_serves() -> None:
    async with Runtime(config(), neurons=[Echo("first", layer=Layer.L3)]) as rt:
        late = rt.add(Echo("late"))
        rt.connect("first", "late")
        result = await rt.ask("x")
        assert late.status.healthy
        assert rt.ready
    assert [hop.neuron_id for hop in result.path] == ["first", "late"]


# -- requests and their lifecycle -------------------------------------------------------


@pytest.mark.anyio
async def test_requests_are_refused_before_start_and_after_stop() -> None:
    rt = Runtime(config(), neurons=[Echo("n")])
    assert not rt.ready
    with pytest.raises(RuntimeNotRunning):
        await rt.submit("too early")
    async with rt:
        assert rt.ready
        await rt.ask("fine")
    assert not rt.ready
    with pytest.raises(RuntimeNotRunning):
        await rt.ask("too late")


@pytest.mark.anyio
async def test_wait_with_timeout_raises_timeout_error_and_the_request_stays_pending() -> None:
    gate = Gate("slow")
    async with Runtime(config(), neurons=[gate]) as rt:
        request = await rt.submit("x")
        with pytest.raises(TimeoutError):
            await rt.wait(request, timeout=0.01)
        assert rt.lookup(request).status == "pending"
        assert rt.active_requests == 1
        gate.release.set()
        assert (await rt.wait(request)).status == "completed"
        assert rt.lookup(request).outputs == ("x",)
        assert rt.active_requests == 0


@pytest.mark.anyio
async def test_lookup_of_an_unknown_request_raises_trace_not_found() -> None:
    async with Runtime(config(), neurons=[Echo("n")]) as rt:
        with pytest.raises(TraceNotFound):
            rt.lookup("no-such-request")
        with pytest.raises(TraceNotFound):
            await rt.wait("no-such-request")


@pytest.mark.anyio
async def test_finished_request_history_is_bounded_oldest_evicted_first() -> None:
    async with Runtime(config(max_traces=2), neurons=[Echo("n")]) as rt:
        ids = [(await rt.ask(i)).id for i in range(3)]
        with pytest.raises(TraceNotFound):
            rt.lookup(ids[0])
        assert [rt.lookup(i).outputs for i in ids[1:]] == [(1,), (2,)]


# -- supervision ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_crashed_actor_loop_is_restarted_fails_its_branch_and_keeps_its_mailbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate("worker", restart_backoff=FAST_BACKOFF)
    rt = Runtime(config(), neurons=[gate])
    forward = rt.router.forward
    crashes = 0

    async def forward_crashing_once(*args: Any, **kwargs: Any) -> None:
        nonlocal crashes
        if crashes == 0:
            crashes += 1
            raise RuntimeError("routing broke")
        waiting = forward(*args, **kwargs)
        if waiting is not None:
            await waiting

    monkeypatch.setattr(rt.router, "forward", forward_crashing_once)
    async with rt:
        crashing = await rt.submit("first")
        await gate.entered.wait()
        queued = [await rt.submit(f"queued {i}") for i in range(3)]
        assert gate.status.queue_size == 3
        gate.release.set()
        crashed = await rt.wait(crashing)
        results = [await rt.wait(request) for request in queued]
        assert gate.status.healthy
        assert sample(rt, "hal9_neuron_health", neuron_id="worker", layer="L2") == 1

    assert gate.status.restarts == 1
    assert crashed.status == "failed"
    assert [(e.neuron_id, e.error, e.message) for e in crashed.errors] == [("worker", "RuntimeError", "routing broke")]
    assert [r.status for r in results] == ["completed"] * 3
    assert [r.outputs for r in results] == [("queued 0",), ("queued 1",), ("queued 2",)]
    assert gate.seen == ["first", "queued 0", "queued 1", "queued 2"]


# -- back-pressure ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_full_mailbox_makes_submit_wait_send_timeout_then_raise_and_drops_nothing() -> None:
    gate = Gate("slow", mailbox_capacity=1)
    async with Runtime(config(send_timeout=0.05), neurons=[gate]) as rt:
        held = await rt.submit("held")  # taken by the neuron, which blocks on it
        await gate.entered.wait()
        queued = await rt.submit("queued")  # fills the only slot
        started = anyio.current_time()
        with pytest.raises(MailboxFull) as refused:
            await rt.submit("refused")
        assert anyio.current_time() - started >= 0.05 - 1e-3
        assert refused.value.neuron_id == "slow"
        with pytest.raises(MailboxFull):
            await rt.ask("refused too")  # ask() waits for room like submit()
        with pytest.raises(MailboxFull):
            await rt.submit("refused at once", send_timeout=0)
        with pytest.raises(MailboxFull):
            # timeout is the wait for the result; send_timeout, the wait for room: no room, no result to wait for.
            await rt.ask("refused by send_timeout", timeout=30, send_timeout=0)
        assert rt.active_requests == 2
        assert gate.status.queue_size == 1

        gate.release.set()
        results = [await rt.wait(held), await rt.wait(queued)]

    assert [r.status for r in results] == ["completed", "completed"]
    assert [r.outputs for r in results] == [("held",), ("queued",)]
    assert gate.seen == ["held", "queued"]


@pytest.mark.anyio
async def test_refused_submit_leaves_no_trace_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    issued: list[str] = []
    new_id: Callable[[], str] = runtime_module.new_id

    def recording_new_id() -> str:
        issued.append(new_id())
        return issued[-1]

    monkeypatch.setattr(runtime_module, "new_id", recording_new_id)
    gate = Gate("slow", mailbox_capacity=1)
    async with Runtime(config(), neurons=[gate]) as rt:
        held = await rt.submit("held")
        await gate.entered.wait()
        await rt.submit("queued")
        with pytest.raises(MailboxFull):
            await rt.submit("refused", send_timeout=0)
        refused_id = issued[-1]
        assert refused_id not in (held,)
        with pytest.raises(TraceNotFound):
            rt.lookup(refused_id)
        gate.release.set()
        await rt.wait(held)


@pytest.mark.anyio
async def test_cancelled_submit_on_a_full_mailbox_leaves_no_trace_behind() -> None:
    gate = Gate("slow", mailbox_capacity=1)
    async with Runtime(config(drain_timeout=5), neurons=[gate]) as rt:
        held = await rt.submit("held")
        await gate.entered.wait()
        queued = await rt.submit("queued")
        with anyio.move_on_after(0.02) as scope:
            await rt.submit("abandoned by its caller", send_timeout=30)
        assert scope.cancelled_caught
        assert rt.active_requests == 2
        gate.release.set()
        await rt.wait(held)
        await rt.wait(queued)
        assert rt.active_requests == 0
    assert gate.seen == ["held", "queued"]


@pytest.mark.anyio
async def test_request_accepted_by_one_entry_survives_another_entry_refusing() -> None:
    quick = Echo("a-quick", layer=Layer.L3)
    gate = Gate("b-slow", layer=Layer.L3, mailbox_capacity=1)
    async with Runtime(config(), neurons=[quick, gate]) as rt:
        assert [n.id for n in rt.entries] == ["a-quick", "b-slow"]
        held = await rt.submit("held")
        await gate.entered.wait()
        queued = await rt.submit("queued")
        # a-quick takes and finishes it while the submit waits for room at b-slow.
        request = await rt.submit("third", send_timeout=0.05)
        result = await rt.wait(request, timeout=5)
        assert result.status == "partial"
        assert result.outputs == ("third",)
        assert [(e.neuron_id, e.error) for e in result.errors] == [("b-slow", "MailboxFull")]
        gate.release.set()
        assert (await rt.wait(held)).status == "completed"
        assert (await rt.wait(queued)).status == "completed"


@pytest.mark.anyio
async def test_forwarding_into_a_full_mailbox_fails_that_branch_with_mailbox_full() -> None:
    sink = Gate("sink", mailbox_capacity=1)
    rt = Runtime(config(send_timeout=0.02), neurons=[Fan("split", ["1", "2", "3"]), sink])
    rt.connect("split", "sink")
    async with rt:
        # Hold the sink on a signal of its own, so x.1 fills its mailbox and x.2, x.3 find no room.
        sink._hal9.mailbox.put_nowait(Signal("held", "held", None, "test", "sink", Layer.L2, "held"))
        await sink.entered.wait()
        subscription = rt.events.subscribe(buffer=64)
        request = await rt.submit("x")
        failures = 0
        async with aclosing(aiter(subscription)) as events:
            async for event in events:
                failures += event["type"] == "signal.failed"
                if failures == 2:
                    break
        subscription.close()
        sink.release.set()
        result = await rt.wait(request)
        assert sample(rt, "hal9_signals_forwarded_total", from_neuron="split", to_neuron="sink") == 1

    assert result.status == "partial"
    assert result.outputs == ("x.1",)
    assert [(e.neuron_id, e.error) for e in result.errors] == [("split", "MailboxFull")] * 2
    assert all("sink" in e.message for e in result.errors)
    assert sink.seen == ["held", "x.1"]


# -- draining ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_leaving_the_runtime_waits_for_in_flight_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate("slow")
    rt = Runtime(config(), neurons=[gate])
    draining = anyio.Event()
    drain = rt.drain

    async def observed_drain(timeout: float) -> bool:
        draining.set()
        return await drain(timeout)

    monkeypatch.setattr(rt, "drain", observed_drain)

    async def release_once_draining() -> None:
        await draining.wait()
        with pytest.raises(RuntimeNotRunning):
            await rt.submit("new work while draining")
        gate.release.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_once_draining)
        async with rt:
            request = await rt.submit("in flight")
            await gate.entered.wait()

    result = rt.lookup(request)
    assert result.status == "completed"
    assert result.outputs == ("in flight",)
    assert not gate.status.healthy


@pytest.mark.anyio
async def test_drain_timeout_bounds_exit_and_fails_the_pending_request() -> None:
    stuck = Stuck("stuck")
    rt = Runtime(config(drain_timeout=0.05), neurons=[stuck])
    async with rt:
        request = await rt.submit("never finishes")
        await stuck.entered.wait()
        leaving = anyio.current_time()

    assert anyio.current_time() - leaving < 2
    result = rt.lookup(request)
    assert result.status == "failed"
    assert [e.error for e in result.errors] == ["RuntimeNotRunning"]
    assert rt.active_requests == 0
    assert not stuck.status.healthy


@pytest.mark.anyio
async def test_error_inside_the_runtime_block_cancels_and_fails_pending_requests() -> None:
    stuck = Stuck("stuck")
    rt = Runtime(config(drain_timeout=30), neurons=[stuck])
    failure = LookupError("caller failed")
    request = ""

    async def fail_inside() -> None:
        nonlocal request
        async with rt:
            request = await rt.submit("never finishes")
            await stuck.entered.wait()
            raise failure

    with pytest.raises(LookupError) as raised:
        await fail_inside()
    assert raised.value is failure  # the caller's own exception, not wrapped in a group
    assert rt.lookup(request).status == "failed"
    assert rt.lookup(request).errors[0].error == "RuntimeNotRunning"


@pytest.mark.anyio
async def test_neurons_built_from_config_take_the_configured_restart_backoff() -> None:
    """runtime.restart_backoff_initial/max reach the neurons the config describes."""
    settings = Config(runtime=RuntimeConfig(restart_backoff_initial=0.2, restart_backoff_max=0.7))
    rt = Runtime(settings)
    for neuron in rt.neurons.values():
        assert (neuron._hal9._backoff_initial, neuron._hal9._backoff_max) == (0.2, 0.7)


def test_a_configured_service_that_is_not_a_service_class_is_refused() -> None:
    """services.llm naming something that is not a Service fails with TopologyError, naming it."""
    with pytest.raises(TopologyError, match=r"hal9\.config:Config"):
        Runtime(Config(services={"llm": "hal9.config:Config"}))


@pytest.mark.anyio
async def test_the_path_is_bounded_by_max_path_hops_and_counts_what_it_dropped() -> None:
    """With max_path_hops=2, a three-hop request records two hops and reports one dropped."""
    rt = Runtime(config(max_path_hops=2), neurons=[Echo("a", layer=Layer.L4), Echo("b", layer=Layer.L3), Echo("c")])
    rt.connect("a", "b")
    rt.connect("b", "c")
    async with rt:
        result = await rt.ask("x")
    assert [hop.neuron_id for hop in result.path] == ["a", "b"]
    assert result.path_dropped == 1
    assert result.outputs == ("x",)
