"""Fixtures: a real nats-server per test, stopped at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import ServerProcess
from tests.network.nats_server import NatsServer


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Real ``python -m hal9 serve`` processes the test starts (appends); all killed at teardown."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()
