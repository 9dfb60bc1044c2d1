"""At-least-once delivery between two in-process runtimes over a real nats-server: faults included."""

from __future__ import annotations

import time

import anyio
import nats
import pytest

from hal9 import Runtime
from hal9.layer import Layer
from hal9.network import codec
from hal9.runtime.signal import Signal
from tests.network.nats_server import NatsServer
from tests.network.neurons import Gate
from tests.network.support import expected, two_server_config, wait_until
from tests.network.test_routing import network_of, wait_connected

pytestmark = pytest.mark.anyio


def sent_signals(rt: Runtime) -> float:
    return rt.metrics.sample("hal9_network_messages_total", {"direction": "sent", "type": "signal"}) or 0.0


async def test_content_that_is_not_json_fails_its_branch_clearly(nats_server: NatsServer) -> None:
    """design (b) returns a set for implement (a): the branch fails with NotTransportable, nothing hangs."""
    async with Runtime(two_server_config("a", nats_server.url)) as a, Runtime(two_server_config("b", nats_server.url)):
        result = await a.ask("opaque", timeout=10)
    assert result.status == "failed"
    assert [e.error for e in result.errors] == ["NotTransportable", "NotTransportable"]
    assert "only JSON values" in result.errors[0].message


async def test_a_server_that_never_answers_fails_its_signals_within_the_delivery_timeout(
    nats_server: NatsServer,
) -> None:
    """No server b at all: both branches fail with PeerUnavailable after network.delivery_timeout."""
    async with Runtime(two_server_config("a", nats_server.url, delivery_timeout=0.5)) as a:
        started = time.monotonic()
        result = await a.ask("x", timeout=10)
        elapsed = time.monotonic() - started
        assert network_of(a).in_flight == 0
    assert result.status == "failed"
    assert {e.error for e in result.errors} == {"PeerUnavailable"}
    assert "server 'b'" in result.errors[0].message
    assert 0.5 <= elapsed < 3.0


async def test_signals_accepted_by_a_server_that_goes_away_fail_once_it_is_gone(nats_server: NatsServer) -> None:
    """b accepts both signals, then stops without answering: they fail clearly within the configured time."""
    settings = {"delivery_timeout": 0.5}
    async with Runtime(two_server_config("a", nats_server.url, **settings)) as a:
        with anyio.CancelScope() as b_scope:
            async with Runtime(two_server_config("b", nats_server.url, design_kind="Hang", **settings)) as b:
                await wait_connected(a, b)
                request = await a.submit("x")
                design = b.neuron("design")
                await wait_until(lambda: design.status.queue_size == 1 and design.status.state == "processing")
                b_scope.cancel()  # b goes away: no results, no more heartbeats, no drain
                await anyio.sleep_forever()
        started = time.monotonic()
        result = await a.wait(request, timeout=10)
        waited = time.monotonic() - started
    assert result.status == "failed"
    assert [e.error for e in result.errors] == ["PeerUnavailable", "PeerUnavailable"]
    assert "gone" in result.errors[0].message
    # Three missed heartbeats (0.3 s), then the delivery timeout (0.5 s), checked once per heartbeat.
    assert waited < 2.0


async def test_a_restarted_server_gets_what_its_previous_run_had_accepted(nats_server: NatsServer) -> None:
    """b's first run accepts both signals and dies with them; its next run gets them again: nothing is lost."""
    async with Runtime(two_server_config("a", nats_server.url, delivery_timeout=10)) as a:
        with anyio.CancelScope() as b_scope:
            async with Runtime(two_server_config("b", nats_server.url, design_kind="Hang")) as b1:
                await wait_connected(a, b1)
                request = await a.submit("x")
                design = b1.neuron("design")
                await wait_until(lambda: design.status.queue_size == 1 and design.status.state == "processing")
                b_scope.cancel()
                await anyio.sleep_forever()
        async with Runtime(two_server_config("b", nats_server.url)) as b2:
            result = await a.wait(request, timeout=10)
            processed = b2.metrics.sample(
                "hal9_signals_processed_total", {"neuron_id": "design", "layer": "L3", "status": "success"}
            )
    assert result.status == "completed", result.errors
    assert sorted(result.outputs) == expected("x")
    assert processed == 2


async def test_a_full_remote_mailbox_is_backpressure_not_loss(nats_server: NatsServer) -> None:
    """design (b) holds 1 signal and queues 1: the rest are refused as full, retried, and all done once."""
    async with (
        Runtime(two_server_config("a", nats_server.url)) as a,
        Runtime(two_server_config("b", nats_server.url, design_kind="Gate", design_capacity=1)) as b,
    ):
        requests = [await a.submit(f"r{i}") for i in range(2)]
        design = b.neuron("design")
        assert isinstance(design, Gate)
        # Four signals, at most two taken: a retries ("full") until there is room.
        await wait_until(lambda: sent_signals(a) >= 5)
        assert design.status.processed == 0
        design.gate.set()
        results = [await a.wait(r, timeout=10) for r in requests]
        assert design.status.processed == 4
    for i, result in enumerate(results):
        assert result.status == "completed", result.errors
        assert sorted(result.outputs) == expected(f"r{i}")


async def test_a_duplicate_signal_is_acknowledged_and_not_delivered_twice(nats_server: NatsServer) -> None:
    """The same signal sent twice (a retry whose ack was lost) is answered 'duplicate' and processed once."""
    # implement (on a, absent here) is never reached: the branch fails after the short delivery timeout.
    async with Runtime(two_server_config("b", nats_server.url, delivery_timeout=0.3)) as b:
        client = await nats.connect(nats_server.url)
        try:
            signal = Signal("dup-1", "trace-1", None, "plan", "design", Layer.L3, "x", {})
            payload = codec.encode_signal(signal, "z")
            first = await client.request("hal9.hal9.b.signal", payload, timeout=5)
            second = await client.request("hal9.hal9.b.signal", payload, timeout=5)
        finally:
            await client.close()
        assert codec.decode_ack(first.data)[0] == "accepted"
        assert codec.decode_ack(second.data)[0] == "duplicate"
        design = b.neuron("design")
        await wait_until(lambda: design.status.processed + design.status.failed >= 1)
        assert design.status.processed == 1
        assert design.status.queue_size == 0


async def test_both_servers_reconnect_after_a_nats_restart_and_work_resumes(nats_server: NatsServer) -> None:
    """NATS goes down with a request on its way; once it is back, both reconnect and the request completes."""
    async with (
        Runtime(two_server_config("a", nats_server.url)) as a,
        Runtime(two_server_config("b", nats_server.url)) as b,
    ):
        await wait_connected(a, b)
        nats_server.stop()
        request = await a.submit("x")
        nats_server.start()
        result = await a.wait(request, timeout=20)
        assert result.status == "completed", result.errors
        assert sorted(result.outputs) == expected("x")
        await wait_connected(a, b)
        again = await a.ask("y", timeout=10)
        assert sorted(again.outputs) == expected("y")
