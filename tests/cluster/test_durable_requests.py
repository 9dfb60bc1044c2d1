"""Three real ``python -m hal9 serve`` on JetStream: a killed server's accepted requests end, none unknown."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hal9.requests import INTERRUPTED
from tests.cli.helpers import ServerProcess
from tests.network.nats_server import NatsServer

#: Several servers importing at once on a loaded 2-core machine can take longer than the helpers' default.
START_DEADLINE = 60.0

pytestmark = pytest.mark.slow

#: Slow enough that requests are queued or running when a server is killed.
ENV = {"HAL9_LLM__MOCK__LATENCY_SECONDS": "0.2", "HAL9_NETWORK__HEARTBEAT_INTERVAL": "0.2"}


def start(servers: list[ServerProcess], tmp_path: Path, nats: NatsServer, *names: str) -> list[ServerProcess]:
    """Servers ``names``, started together, each running the default network itself (each takes requests)."""
    started = []
    for name in names:
        config = tmp_path / f"{name}.toml"
        config.write_text(f'server_id = "{name}"\ndata_dir = "data-{name}"\n', encoding="utf-8")
        started.append(ServerProcess(tmp_path, config, {"HAL9_NETWORK__NATS_URL": nats.url, **ENV}))
    servers.extend(started)
    for server in started:
        server.wait_listening(START_DEADLINE)
    return started


def view(server: ServerProcess, request_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/signals/{request_id}", timeout=10)
    assert response.status_code == 200, f"{server.url}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def wait_for(check: Callable[[], Any], deadline: float = 30.0) -> Any:
    """Poll the servers (other processes, over HTTP) until ``check()`` is truthy."""
    end = time.monotonic() + deadline
    while not (result := check()):
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)
    return result


def test_a_killed_servers_accepted_requests_end_completed_or_interrupted_on_every_server(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """a holds 12 accepted requests and is killed -9; the others answer for them at once, and after a's restart
    every id is completed or failed Interrupted on all three servers."""
    a, b, c = start(servers, tmp_path, nats_server, "a", "b", "c")
    first = httpx.post(f"{a.url}/api/v1/signals", json={"content": "done first"}, timeout=10).json()["id"]
    assert wait_for(lambda: view(a, first)["status"] == "completed")
    done = view(a, first)
    ids: list[str] = []
    for i in range(12):
        accepted = httpx.post(f"{a.url}/api/v1/signals", json={"content": f"task {i}"}, timeout=10)
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["id"])
        # In JetStream before the 202: b, which never saw the request, answers for it at once.
        assert view(b, ids[-1])["status"] in ("pending", "completed")
    # The first request's end is written behind: c sees it completed once that write lands.
    assert wait_for(lambda: view(c, done["id"])["status"] == "completed")
    a.stop(signal.SIGKILL)
    # Killed, not yet back: its run is still the latest one, so its requests read as pending, never unknown.
    assert view(b, ids[-1])["status"] == "pending"

    (a2,) = start(servers, tmp_path, nats_server, "a")
    interrupted = 0
    for server in (a2, b, c):
        for request_id in ids:
            body = view(server, request_id)
            assert body["status"] in ("completed", "failed"), body
            if body["status"] == "failed":
                assert [e["error"] for e in body["errors"]] == [INTERRUPTED], body
                interrupted += 1
        assert view(server, done["id"]) == done
    assert interrupted, "the kill interrupted nothing: the test did not test the crash"
    # a's restart marked them in the bucket: the record itself is final now, not only the answers.
    assert a2.logged("requests.started")[0]["interrupted"] == interrupted // 3
