"""In-process runtimes of one cluster for the memory and feedback tests: configs and waits on their progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from hal9 import Config, Runtime
from hal9.learning import LearningService
from hal9.learning.relay import FeedbackRelay
from hal9.memory import SQLiteMemory
from hal9.memory.importer import EntryImporter
from hal9.memory.publisher import EntryPublisher
from tests.network.support import neurons

MEMORY = {"memory": "hal9.memory:SQLiteMemory"}
LEARNING = {"llm": "hal9.llm:LLMService", "learning": "hal9.learning:LearningService"}


def cluster_config(
    server_id: str,
    nats_url: str,
    data_dir: Path | None,
    services: dict[str, str],
    *,
    network: bool = False,
    ack_timeout: float = 0.5,
) -> Config:
    """Server ``server_id`` of a cluster: the two-server network of tests/network, or the built-in one."""
    settings: dict[str, Any] = {
        "server_id": server_id,
        "services": services,
        "auth": {"enabled": False},
        "runtime": {"drain_timeout": 5.0},
        "network": {"nats_url": nats_url, "heartbeat_interval": 0.1, "ack_timeout": ack_timeout},
        "learning": {"write_with_llm": False},
    }
    if network:
        settings["neurons"] = neurons()
    if data_dir is not None:
        settings["data_dir"] = str(data_dir)
    return Config.model_validate(settings)


def memory_of(runtime: Runtime) -> SQLiteMemory:
    return runtime.services.require(SQLiteMemory)


def learning_of(runtime: Runtime) -> LearningService:
    return runtime.services.require(LearningService)


def importer_of(runtime: Runtime) -> EntryImporter:
    replication = memory_of(runtime).replication
    assert replication is not None
    assert replication.importer is not None
    return replication.importer


def publisher_of(runtime: Runtime) -> EntryPublisher:
    replication = memory_of(runtime).replication
    assert replication is not None
    assert replication.publisher is not None
    return replication.publisher


def relay_of(runtime: Runtime) -> FeedbackRelay:
    relay = learning_of(runtime).relay
    assert relay is not None
    return relay


async def until(
    check: Callable[[], Awaitable[bool]], progress: Callable[[], anyio.Event], deadline: float = 15.0
) -> None:
    """Until ``check()`` holds, await ``progress()`` (the importer's or relay's next batch), with a time limit.

    The event is taken before the check, so a batch handled while the check runs is not missed.
    """
    with anyio.fail_after(deadline):
        while True:
            event = progress()
            if await check():
                return
            await event.wait()


async def found(runtime: Runtime, query: str) -> set[str]:
    """The contents a fresh search for ``query`` finds on ``runtime`` (up to 100)."""
    return {entry.content for entry in await memory_of(runtime).search(query, limit=100, match="any")}
