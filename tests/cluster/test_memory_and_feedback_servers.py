"""Three real ``python -m hal9 serve`` processes of one cluster over a real nats-server with JetStream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import ServerProcess
from tests.network.nats_server import NatsServer
from tests.network.test_two_servers import peer_alive, wait_for

pytestmark = pytest.mark.slow

#: strategic on a, design on b, implementation on c: a request crosses all three servers.
NETWORK = """
[[neurons]]
id = "strategic"
layer = "L4"
kind = "strategic"
server = "a"
downstream = ["design"]

[[neurons]]
id = "design"
layer = "L3"
kind = "design"
server = "b"
downstream = ["implementation"]

[[neurons]]
id = "implementation"
layer = "L2"
kind = "implementation"
server = "c"
"""


def start(servers: list[ServerProcess], tmp_path: Path, server_id: str, nats: NatsServer) -> ServerProcess:
    config = tmp_path / f"{server_id}.toml"
    config.write_text(
        f'server_id = "{server_id}"\ndata_dir = "data-{server_id}"\n\n'
        f'[network]\nnats_url = "{nats.url}"\ncluster = "test"\nheartbeat_interval = 0.2\n\n'
        "[learning]\nwrite_with_llm = false\n" + NETWORK,
        encoding="utf-8",
    )
    server = ServerProcess(tmp_path, config)
    servers.append(server)
    return server


def search(server: ServerProcess, query: str) -> list[str]:
    response = httpx.get(f"{server.url}/api/v1/memory/search", params={"q": query}, timeout=5)
    response.raise_for_status()
    return [entry["content"] for entry in response.json()]


def learning(server: ServerProcess, neuron_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/neurons/{neuron_id}/learning", timeout=5)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_three_servers_share_memories_and_feedback_reaches_every_server_on_the_path(
    servers: list[ServerProcess], tmp_path: Path, nats_server: NatsServer
) -> None:
    """A memory stored through a's API is found through b's and c's, and forgotten through c's is gone
    from all three; feedback on a request given on a changes the learning state of design on b and
    implementation on c."""
    a, b, c = (start(servers, tmp_path, server_id, nats_server) for server_id in ("a", "b", "c"))
    for server in (a, b, c):
        server.wait_listening()
    wait_for(lambda: peer_alive(a, "b") and peer_alive(a, "c") and peer_alive(b, "c"))

    stored = httpx.post(
        f"{a.url}/api/v1/memory",
        json={"content": "the capybara deployment checklist", "neuron_id": "strategic", "kind": "task"},
        timeout=5,
    )
    assert stored.status_code == 201, stored.text
    for server in (b, c):
        assert wait_for(lambda server=server: search(server, "capybara")) == ["the capybara deployment checklist"]
    # Forgotten through c's API (its copy's id there): gone on a, where it was stored, and on b.
    (copy,) = httpx.get(f"{c.url}/api/v1/memory/search", params={"q": "capybara"}, timeout=5).json()
    assert httpx.delete(f"{c.url}/api/v1/memory/{copy['id']}", timeout=5).status_code == 204
    for server in (a, b):
        assert wait_for(lambda server=server: search(server, "capybara") == [])

    response = httpx.post(f"{a.url}/api/v1/signals", json={"content": "Build a todo app", "wait": True}, timeout=30)
    assert response.status_code == 200, response.text
    request = response.json()
    assert request["status"] == "completed", request
    before = learning(b, "design"), learning(c, "implementation")
    assert [state["effectiveness"] for state in before] == [1.0, 1.0]

    feedback = httpx.post(
        f"{a.url}/api/v1/signals/{request['id']}/feedback", json={"score": 0, "comment": "wrong"}, timeout=5
    )
    assert feedback.status_code == 200, feedback.text
    assert set(feedback.json()["errors"]) == {"strategic", "design", "implementation"}
    design = wait_for(lambda: (state := learning(b, "design"))["effectiveness"] == 0.0 and state)
    assert design["gradient"] > 0
    implementation = wait_for(lambda: (state := learning(c, "implementation"))["effectiveness"] == 0.0 and state)
    assert list(implementation["patterns"].values()) == [1]  # the output neuron counted the feedback's pattern
    # implementation's error (1, the output neuron's) passed the threshold: a lesson, from the rule.
    assert wait_for(lambda: learning(c, "implementation")["lessons"])[0]["source"] == "rule"
