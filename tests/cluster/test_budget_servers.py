"""Three real ``python -m hal9 serve`` processes on one nats-server with JetStream share one daily budget."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import httpx
import pytest

from hal9.cluster import ClusterState
from hal9.config import Config
from hal9.llm.shared_budget import BUCKET
from hal9.llm.spend_document import SpendDocument
from tests.cli.helpers import ServerProcess, poll_sample, value
from tests.network.nats_server import NatsServer

pytestmark = pytest.mark.slow

#: The daily limit: a few calls' worth (each costs about 0.01 and reserves about 0.07, its worst case).
LIMIT = 0.25
CLUSTER = "budgets"
REFUSED = ("hal9_claude_api_calls_total", {"mode": "mock", "model": "mock-claude", "status": "error"})
GRANTED = ("hal9_claude_api_calls_total", {"mode": "mock", "model": "mock-claude", "status": "success"})

CONFIG = """
server_id = "{name}"
data_dir = "data-{name}"

[llm]
mode = "mock"
max_tokens = 64

[llm.prices.claude-haiku-4-5]
input = 100.0
output = 1000.0

[llm.budget]
hour = inf
day = {limit}
month = inf

[llm.mock]
priced = true
latency_seconds = 0.05

[learning]
write_with_llm = false  # a failed request's lesson would be one more (refused) LLM call

[network]
cluster = "{cluster}"

[[neurons]]
id = "{name}-worker"
layer = "L2"
kind = "implementation"
concurrency = 8
"""


def start_three(servers: list[ServerProcess], tmp_path: Path, nats: NatsServer) -> list[ServerProcess]:
    for name in ("s1", "s2", "s3"):
        config = tmp_path / f"{name}.toml"
        config.write_text(CONFIG.format(name=name, limit=LIMIT, cluster=CLUSTER), encoding="utf-8")
        servers.append(ServerProcess(tmp_path, config, {"HAL9_NETWORK__NATS_URL": nats.url}))
    for server in servers:
        server.wait_listening()
    return servers


def ledger_spend(database: Path) -> float:
    with sqlite3.connect(database) as connection:
        (total,) = connection.execute("SELECT COALESCE(SUM(cost), 0) FROM llm_spend WHERE mode = 'mock'").fetchone()
    return float(total)


async def shared_spend(url: str) -> SpendDocument:
    config = Config.model_validate({"network": {"nats_url": url, "cluster": CLUSTER}})
    async with ClusterState(config.network, "reader") as state:
        kv = await state.key_value(BUCKET)
        return SpendDocument.decode((await kv.get("mock")).value)


@pytest.mark.anyio
async def test_concurrent_requests_on_three_servers_never_spend_past_the_shared_daily_limit(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """Twenty requests at once on each server: spend stays within the limit, refusals are counted everywhere."""
    start_three(servers, tmp_path, nats_server)
    outcomes: list[str] = []

    async def ask(client: httpx.AsyncClient, i: int) -> None:
        response = await client.post("/api/v1/signals", json={"content": f"task {i}", "wait": True})
        body = response.json()
        outcomes.append(body["status"])
        if body["status"] != "completed":
            assert response.status_code == 502, response.text  # the network failed it: the LLM refused
            assert [e["error"] for e in body["errors"]] == ["BudgetExceeded"], body

    clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in servers]
    try:
        # One request on each server first, one after another, so that every server's ledger has spend of its own
        # whichever server wins the race below (each first call reserves far less than the limit).
        for client in clients:
            await ask(client, -1)
        assert outcomes == ["completed"] * 3, outcomes
        async with anyio.create_task_group() as tg:
            for i in range(20):
                for client in clients:
                    tg.start_soon(ask, client, i)
        completed, failed = outcomes.count("completed"), outcomes.count("failed")
        assert completed > 3  # the limit holds a few calls besides the first three...
        assert failed >= 20  # ...and refuses many of the sixty

        # Refusals are counted by every server (as any refused call is), and add up to the failed requests.
        scrapes = [(await client.get("/metrics")).text for client in clients]
        assert sum(value(s, REFUSED[0], **REFUSED[1]) or 0 for s in scrapes) == failed
        assert sum(value(s, GRANTED[0], **GRANTED[1]) or 0 for s in scrapes) == completed
        assert all(s.count('status="error"') for s in scrapes)

        # The remaining daily budget is the cluster's: every server reports the same value.
        shared = await shared_spend(nats_server.url)
        remaining = LIMIT - shared.spent("day")
        for client in clients:
            await poll_sample(
                client,
                "hal9_claude_budget_remaining_dollars",
                lambda v: v is not None and abs(v - remaining) < 1e-9,
                period="day",
            )
    finally:
        for client in clients:
            await client.aclose()
    for server in servers:
        assert server.stop() == 0, server.output()[-3000:]  # a clean stop writes the ledgers' last rows
    assert any(server.logged("llm.budget_refused") for server in servers)

    shared = await shared_spend(nats_server.url)
    assert shared.reservations == {}
    assert 0 < shared.spent("day") <= LIMIT
    ledgers = [ledger_spend(tmp_path / f"data-{name}" / "hal9.db") for name in ("s1", "s2", "s3")]
    # Each server's ledger records its own calls; together they are the cluster's spend.
    assert sum(ledgers) == pytest.approx(shared.spent("day"))
    assert sum(ledgers) <= LIMIT
    assert all(spent > 0 for spent in ledgers)
