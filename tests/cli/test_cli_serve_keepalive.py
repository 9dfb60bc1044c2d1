"""A real server answers requests on a kept-alive connection without Nagle delays."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.cli.helpers import StartServer

pytestmark = pytest.mark.slow

#: With Nagle's algorithm on (no TCP_NODELAY), every answer after the first on a connection
#: waits for the client's delayed ACK: at least 40 ms on Linux. The fastest of several
#: requests is unaffected by load spikes, so this bound cannot be hit by a slow machine alone.
NAGLE_FLOOR_SECONDS = 0.04


def test_keep_alive_requests_are_not_held_back_by_nagle(start_server: StartServer) -> None:
    """Requests reusing one connection are answered in well under the 40 ms delayed-ACK stall (TCP_NODELAY is on)."""
    server = start_server("")
    timings = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get("/health")  # opens the connection
        for _ in range(10):
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            timings.append(time.perf_counter() - started)

    assert min(timings) < NAGLE_FLOOR_SECONDS / 2, timings
    assert server.stop() == 0
