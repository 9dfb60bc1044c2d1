"""Fixtures: a real nats-server with JetStream per test, and the ``hal9 serve`` processes a test starts."""

from __future__ import annotations

from collections.abc import Iterator

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
def servers() -> Iterator[list[ServerProcess]]:
    """The ``python -m hal9 serve`` processes the test starts (appends); all killed at teardown."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()
