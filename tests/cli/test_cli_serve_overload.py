"""A real server under far more concurrent requests than its entry mailbox holds."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.cli.helpers import StartServer, value

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

BURST = 300
CONNECTIONS = 50
#: Anonymous resident memory growth allowed across the burst, after a warm-up (the finished
#: traces kept for GET, the allocator's noise). 16 MiB is far above that noise
#: but is crossed by anything that keeps ~50 KB per request (a refused request's trace,
#: a queued copy of each body, a buffer per connection that is never freed).
MAX_HEAP_GROWTH = 16 * 1024 * 1024
SERVER_ID = "overload"

# The entry neuron has a mailbox of 4 and a 50 ms send timeout, so most of a burst is
# refused at the door. The neurons behind it get room for everything the entry admits
# (about one request per 50 ms mock call), so an accepted request is never dropped
# inside the network (runtime.send_timeout applies there too) and must complete.
CONFIG = f"""
server_id = "{SERVER_ID}"

[runtime]
mailbox_capacity = 4
send_timeout = 0.05

[llm.mock]
latency_seconds = 0.05

# One directive a request: every layer then works at the entry's pace, so the backlog
# behind the entry stays short and the test stays quick.
[[llm.mock.replies]]
layer = "L4"
reply = '{{"directives": ["Do the one thing"]}}'

[[neurons]]
id = "strategic"
layer = "L4"
kind = "strategic"
downstream = ["design"]

[[neurons]]
id = "design"
layer = "L3"
kind = "design"
downstream = ["implementation"]
mailbox_capacity = 1024

[[neurons]]
id = "implementation"
layer = "L2"
kind = "implementation"
mailbox_capacity = 1024
"""

FINAL = {"completed", "partial", "failed"}


def anonymous_memory(pid: int) -> int:
    """The server's anonymous resident memory (``RssAnon``): its heap and stacks, not the files it maps.

    The resident set size also counts the pages of files the process maps, which grow with the
    search index's segments as searches read them: cache, not a leak.
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/<pid>/status")


async def burst(client: httpx.AsyncClient, size: int) -> list[httpx.Response]:
    responses: list[httpx.Response] = []

    async def post(index: int) -> None:
        responses.append(await client.post("/api/v1/signals", json={"content": f"Request number {index}"}))

    async with anyio.create_task_group() as task_group:
        for index in range(size):
            task_group.start_soon(post, index)
    return responses


async def wait_final(client: httpx.AsyncClient, ids: list[str], deadline: float) -> dict[str, dict[str, Any]]:
    """Poll each accepted id until it reports a final status."""
    final: dict[str, dict[str, Any]] = {}
    with anyio.fail_after(deadline):
        while len(final) < len(ids):
            for signal_id in ids:
                if signal_id in final:
                    continue
                body = (await client.get(f"/api/v1/signals/{signal_id}")).json()
                if body["status"] in FINAL:
                    final[signal_id] = body
            if len(final) < len(ids):
                await anyio.sleep(0.1)
    return final


async def test_overload_answers_503_with_retry_after_and_completes_all_it_accepted(start_server: StartServer) -> None:
    """300 concurrent POSTs into a mailbox of 4: only 202 or 503+Retry-After, every accepted id completes, heap flat."""
    server = start_server(CONFIG)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
        # Warm up with a burst as large as the measured one: allocate what a running server under
        # such load always has (first responses, caches, thread pool, the allocator's per-thread
        # arenas of the search threads, the search index's writer).
        # Twice: the search index's writer keeps the memory its busiest commit needed (bounded by
        # its budget), and how busy a commit gets depends on the machine's load.
        warm: list[httpx.Response] = []
        for _ in range(2):
            round_ = await burst(client, BURST)
            await wait_final(client, [r.json()["id"] for r in round_ if r.status_code == 202], deadline=20)
            warm += round_
        before = anonymous_memory(server.proc.pid)

        responses = await burst(client, BURST)
        statuses = sorted({r.status_code for r in responses})
        assert set(statuses) <= {202, 503}, statuses
        refused = [r for r in responses if r.status_code == 503]
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        assert refused, "the burst never filled the entry mailbox"
        assert accepted, "nothing was accepted"
        for response in refused:
            assert response.headers["retry-after"] == "1"
            assert "strategic" in response.json()["detail"]

        final = await wait_final(client, accepted, deadline=20)
        assert {body["status"] for body in final.values()} == {"completed"}
        assert all(len(body["outputs"]) == 1 for body in final.values())
        after = anonymous_memory(server.proc.pid)
        text = (await client.get("/metrics")).text

    warm_accepted = sum(r.status_code == 202 for r in warm)
    warm_refused = sum(r.status_code == 503 for r in warm)
    posts = {"method": "POST", "endpoint": "/api/v1/signals"}
    assert value(text, "hal9_http_requests_total", **posts, status="202") == len(accepted) + warm_accepted
    assert value(text, "hal9_http_requests_total", **posts, status="503") == len(refused) + warm_refused
    processed = {"neuron_id": "strategic", "layer": "L4", "status": "success"}
    assert value(text, "hal9_signals_processed_total", **processed) == len(accepted) + warm_accepted
    for neuron_id in ("strategic", "design", "implementation"):
        assert value(text, "hal9_neuron_queue_size", neuron_id=neuron_id) == 0

    growth = after - before
    print(
        f"overload: accepted {len(accepted)}, refused {len(refused)} of {BURST}; "
        f"heap before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB, growth {growth / 2**20:+.1f} MiB"
    )
    assert growth < MAX_HEAP_GROWTH
    assert await anyio.to_thread.run_sync(server.stop) == 0
