"""The JetStream request store on a real nats-server: the record before the accept returns, runs, and the sweep."""

from __future__ import annotations

import time

import pytest

from hal9.cluster import ClusterState
from hal9.config import Config
from hal9.requests import INTERRUPTED, RequestRecord
from hal9.requests.jetstream import JetStreamRequests
from hal9.support.background import BackgroundTasks
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.anyio


def state(nats_server: NatsServer) -> ClusterState:
    return ClusterState(Config.model_validate({"network": {"nats_url": nats_server.url}}).network, "a")


def accepted(request_id: str, instance: str) -> RequestRecord:
    return RequestRecord(request_id, "accepted", "a", instance, time.time())


async def test_a_restart_fails_its_earlier_runs_open_records_and_another_server_tells_runs_apart(
    nats_server: NatsServer,
) -> None:
    async with state(nats_server) as cluster, BackgroundTasks() as background:
        first = JetStreamRequests(cluster, "a", "run-1", 3600, background)
        await first.open()
        await first.accept(accepted("crashed", "run-1"))
        await first.accept(accepted("ended", "run-1"))
        first.finish(accepted("ended", "run-1").finished({"status": "completed"}, at=time.time()))
        await first.flush()
        # Recorded when accept returned: another server reads it, and sees a's run still going.
        other = JetStreamRequests(cluster, "b", "run-b", 3600, background)
        await other.open()
        crashed = await other.get("crashed")
        assert crashed is not None
        assert crashed.open
        assert await other.run_is_current(crashed, "run-b")

        second = JetStreamRequests(cluster, "a", "run-2", 3600, background)
        await second.open()  # a's next run: its run key changes
        assert not await other.run_is_current(crashed, "run-b")
        assert await second.interrupt_previous("run-2") == 1
        swept = await other.get("crashed")
        assert swept is not None
        assert swept.status == "failed"
        assert swept.result is not None
        assert [error["error"] for error in swept.result["errors"]] == [INTERRUPTED]
        ended = await other.get("ended")
        assert ended is not None
        assert ended.status == "completed"
        # The markers are gone: the next start reads nothing.
        assert await second.interrupt_previous("run-2") == 0
        assert await other.get("never") is None


async def test_a_server_not_heard_of_for_gone_after_has_its_open_requests_read_as_interrupted(
    nats_server: NatsServer,
) -> None:
    """A killed server that never comes back: its run's key stops being refreshed, and another server
    answers its accepted requests as interrupted once ``gone_after`` has passed, not pending for good."""
    now = [1000.0]
    async with state(nats_server) as cluster, BackgroundTasks() as background:
        dead = JetStreamRequests(cluster, "a", "run-1", 3600, background, gone_after=30, clock=lambda: now[0])
        await dead.open()
        await dead.accept(accepted("orphan", "run-1"))
        other = JetStreamRequests(cluster, "b", "run-b", 3600, background, gone_after=30, clock=lambda: now[0])
        await other.open()
        orphan = await other.get("orphan")
        assert orphan is not None
        now[0] += 29
        assert await other.run_is_current(orphan, "run-b")
        now[0] += 2  # 31 s without a word from a
        assert not await other.run_is_current(orphan, "run-b")
        await dead.mark_run()  # a speaks again (it was only cut off): its requests run on
        assert await other.run_is_current(orphan, "run-b")
