"""Fixtures: real ``python -m hal9 serve`` subprocesses, always killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.cli.helpers import ServerProcess, StartServer


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start ``python -m hal9 serve --port 0 --config <toml>`` in ``tmp_path`` and wait until it listens.

    Call it with the TOML text of the configuration (and optional extra environment).
    Whatever a test leaves running is killed at teardown.
    """
    started: list[ServerProcess] = []

    def start(config: str = "", env: Mapping[str, str] | None = None) -> ServerProcess:
        path = tmp_path / f"hal9-{len(started)}.toml"
        path.write_text(config, encoding="utf-8")
        server = ServerProcess(tmp_path, path, env)
        started.append(server)
        server.wait_listening()
        return server

    yield start
    for server in started:
        server.kill()
