"""The shared budget against a real nats-server with JetStream: compare-and-set under contention, expiry, modes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from hal9.cluster import ClusterState
from hal9.config import BudgetConfig, Config
from hal9.errors import BudgetExceeded, LLMUnavailable
from hal9.llm.ledger import Mode
from hal9.llm.shared_budget import BUCKET, SharedSpendTracker
from hal9.llm.spend_document import SpendDocument
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio

LIMIT = BudgetConfig(hour=None, day=1.0, month=None)


def _network(url: str) -> Config:
    return Config.model_validate({"network": {"nats_url": url, "cluster": "budget-test"}})


@asynccontextmanager
async def trackers(
    url: str, count: int, mode: Mode = "mock", clock: Callable[[], float] = time.time, *, write_behind: bool = False
) -> AsyncIterator[list[SharedSpendTracker]]:
    """``count`` trackers, each on a NATS connection of its own (as ``count`` servers would be).

    With ``write_behind`` every other one settles without waiting, as the mock does.
    """
    async with AsyncExitStack() as stack:
        opened = []
        for i in range(count):
            state = await stack.enter_async_context(ClusterState(_network(url).network, f"s{i}"))
            tracker = SharedSpendTracker(LIMIT, state, mode, clock=clock, write_behind=write_behind and i % 2 == 0)
            await tracker.open()
            stack.push_async_callback(tracker.close)
            opened.append(tracker)
        yield opened


async def test_concurrent_reservations_from_four_clients_never_commit_past_the_limit(nats_server: NatsServer) -> None:
    granted: list[str] = []
    refused: list[BudgetExceeded] = []
    async with trackers(nats_server.url, 4, write_behind=True) as clients:

        async def call(tracker: SharedSpendTracker, n: int) -> None:
            try:
                async with tracker.hold(0.125) as reservation:
                    granted.append(reservation.id)
                    await anyio.lowlevel.checkpoint()  # others reserve meanwhile
                    await tracker.record("m", 10, 10, 0.125, reservation)
            except BudgetExceeded as exc:
                refused.append(exc)

        async with anyio.create_task_group() as tg:
            for tracker in clients:
                for n in range(10):
                    tg.start_soon(call, tracker, n)
    # Read once every client has closed (a closing client writes the settlements still queued).
    async with ClusterState(_network(nats_server.url).network, "reader") as state:
        kv = await state.key_value(BUCKET)
        document = SpendDocument.decode((await kv.get("mock")).value)
    # 1.0 / 0.125: exactly eight calls fit, whichever client made them, the other 32 were refused.
    assert len(granted) == 8
    assert len(set(granted)) == 8
    assert len(refused) == 32
    assert all(exc.period == "day" for exc in refused)
    assert document.spent("day") == 1.0
    assert document.reservations == {}


async def test_a_reservation_of_a_crashed_server_blocks_until_it_expires_then_is_dropped(
    nats_server: NatsServer,
) -> None:
    now = [time.time()]
    async with trackers(nats_server.url, 1, clock=lambda: now[0]) as (tracker,):
        kv = await tracker.state.key_value(BUCKET)
        crashed = SpendDocument()
        crashed.roll(now[0])
        crashed.reservations["gone.0000.1"] = (0.75, now[0] + 5)
        await kv.put("mock", crashed.encode())
        with pytest.raises(BudgetExceeded) as blocked:
            async with tracker.hold(0.5):
                pass
        assert blocked.value.spent == 0.75
        now[0] += 6  # past the dead server's reservation
        async with tracker.hold(0.5) as reservation:
            await tracker.record("m", 1, 1, 0.5, reservation)
        stored = json.loads((await kv.get("mock")).value)
    assert stored["reservations"] == {}
    assert stored["periods"]["day"]["by_model"] == {"m": 0.5}


async def test_the_mocks_spend_never_counts_against_the_real_apis_budget(nats_server: NatsServer) -> None:
    async with trackers(nats_server.url, 1, "mock") as (mock,), trackers(nats_server.url, 1, "real") as (real,):
        async with mock.hold(1.0) as reservation:
            await mock.record("m", 1, 1, 1.0, reservation)
        assert mock.remaining("day") == 0
        async with real.hold(1.0) as reservation:
            await real.record("claude-haiku-4-5", 1, 1, 0.25, reservation)
        assert real.remaining("day") == 0.75


async def test_every_client_reads_the_same_remaining_budget_from_its_local_copy(nats_server: NatsServer) -> None:
    async with trackers(nats_server.url, 3) as clients:
        async with clients[0].hold(0.5) as reservation:
            # The reservation is seen by every client, and counts against their reservations too.
            with anyio.fail_after(5):
                for client in clients:
                    while client.reserved != 0.5:
                        await client.changed()  # the other connections' watches deliver it
            await clients[0].record("m", 1, 1, 0.25, reservation)
        with anyio.fail_after(5):
            for client in clients:
                while client.remaining("day") != 0.75 or client.reserved:
                    await client.changed()
        assert [client.spent_by_model("day") for client in clients] == [{"m": 0.25}] * 3


async def test_a_cancelled_call_gives_its_reservation_back(nats_server: NatsServer) -> None:
    async with trackers(nats_server.url, 1) as (tracker,):
        with anyio.move_on_after(0.2):
            async with tracker.hold(0.75):
                await anyio.sleep(5)  # the call is cancelled while it runs
        async with tracker.hold(0.75) as reservation:  # would be refused had the first stayed reserved
            await tracker.record("m", 1, 1, 0.75, reservation)
        assert tracker.remaining("day") == 0.25


async def test_while_nats_is_down_calls_are_refused_as_unavailable_and_settlements_wait_for_it(
    nats_server: NatsServer,
) -> None:
    network = {"nats_url": nats_server.url, "cluster": "budget-test", "ack_timeout": 0.2, "heartbeat_interval": 0.2}
    # A call waits for NATS up to the delivery timeout, as a signal to another server would.
    config = Config.model_validate({"network": {**network, "delivery_timeout": 0.5}})
    async with ClusterState(config.network, "s0") as state:
        tracker = SharedSpendTracker(LIMIT, state, "mock")
        await tracker.open()
        try:
            async with tracker.hold(0.25) as reservation:
                await anyio.to_thread.run_sync(nats_server.stop)
                await tracker.record("m", 1, 1, 0.25, reservation)  # its settlement cannot be written yet
            with pytest.raises(LLMUnavailable, match="cluster's budget"):
                async with tracker.hold(0.125):
                    pass
            await anyio.to_thread.run_sync(nats_server.start)
            with anyio.fail_after(20):  # reconnect, then the settlement kept meanwhile is written
                while tracker.spent("day") != 0.25 or tracker.reserved:
                    await tracker.changed()
        finally:
            await tracker.close()
