"""Two runtimes in one process, connected through a real nats-server: remote routing end to end."""

from __future__ import annotations

import pytest

from hal9 import Runtime
from hal9.network.service import NatsNetwork
from tests.network.nats_server import NatsServer
from tests.network.support import expected, two_server_config, wait_until

pytestmark = pytest.mark.anyio


def network_of(runtime: Runtime) -> NatsNetwork:
    service = runtime.services["network"]
    assert isinstance(service, NatsNetwork)
    return service


async def wait_connected(*runtimes: Runtime) -> None:
    """Until every runtime has heard a heartbeat from all the others."""
    await wait_until(lambda: all(len(network_of(rt).peers.connected()) == len(runtimes) - 1 for rt in runtimes))


async def test_a_request_completes_through_the_other_server(nats_server: NatsServer) -> None:
    """plan (a) -> design (b) -> implement (a): outputs, path and message counts as expected."""
    async with (
        Runtime(two_server_config("a", nats_server.url)) as a,
        Runtime(two_server_config("b", nats_server.url)) as b,
    ):
        assert [n.id for n in a.entries] == ["plan"]
        assert b.entries == ()
        result = await a.ask("x", timeout=10)
        assert result.status == "completed", result.errors
        assert sorted(result.outputs) == expected("x")
        assert sorted(hop.neuron_id for hop in result.path) == ["design", "design", "implement", "implement", "plan"]
        await wait_connected(a, b)
        for rt in (a, b):
            # Two signals each way, and two results each way: nothing was retried.
            assert rt.metrics.sample("hal9_network_messages_total", {"direction": "sent", "type": "signal"}) == 4
            assert rt.metrics.sample("hal9_network_messages_total", {"direction": "received", "type": "signal"}) == 4
            assert network_of(rt).in_flight == 0
        assert a.metrics.sample("hal9_signals_forwarded_total", {"from_neuron": "plan", "to_neuron": "design"}) == 2
        assert (
            b.metrics.sample(
                "hal9_signals_processed_total", {"neuron_id": "design", "layer": "L3", "status": "success"}
            )
            == 2
        )


async def test_removing_a_neuron_fed_from_another_server_leaves_the_rest_working(nats_server: NatsServer) -> None:
    """implement (a) is fed by design (b): removing it drops only its own series."""
    async with Runtime(two_server_config("a", nats_server.url)) as a:
        await a.remove("implement")
        assert a.local_neuron_ids == ("plan",)
        assert a.remote_neurons == {"design": "b"}
