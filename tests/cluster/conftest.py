"""Fixtures: a real nats-server with JetStream per test, stopped and removed at teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.network.nats_server import NatsServer


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer()
    server.start()
    yield server
    server.remove()
