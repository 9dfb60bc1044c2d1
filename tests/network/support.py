"""Configs of a two-server network: plan (L4) and implement (L2) on server a, design (L3) on server b."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from hal9 import Config
from tests.support import LLM_ONLY

NEURONS = "tests.network.neurons"


def neurons(design_kind: str = "Design", design_capacity: int | None = None) -> list[dict[str, Any]]:
    design = {"id": "design", "layer": "L3", "kind": f"{NEURONS}:{design_kind}", "server": "b"}
    return [
        {"id": "plan", "layer": "L4", "kind": f"{NEURONS}:Split", "server": "a", "downstream": ["design"]},
        {**design, "downstream": ["implement"], "mailbox_capacity": design_capacity},
        {"id": "implement", "layer": "L2", "kind": f"{NEURONS}:Implement", "server": "a"},
    ]


def two_server_config(
    server_id: str, nats_url: str, design_kind: str = "Design", design_capacity: int | None = None, **network: Any
) -> Config:
    """The config of server ``server_id`` (a or b) of the network, with fast heartbeats."""
    settings = {"nats_url": nats_url, "heartbeat_interval": 0.1, "ack_timeout": 0.5, **network}
    return Config.model_validate(
        {
            "server_id": server_id,
            "services": LLM_ONLY,
            "runtime": {"drain_timeout": 5.0},
            "auth": {"enabled": False},
            "neurons": neurons(design_kind, design_capacity),
            "network": settings,
        }
    )


def expected(content: str) -> list[str]:
    return sorted(f"impl(design({content}-{i}))" for i in (1, 2))


async def wait_until(predicate: Callable[[], bool], deadline: float = 10.0) -> None:
    """Poll a condition the servers reach on their own (a heartbeat, a queue), with a time limit."""
    with anyio.fail_after(deadline):
        while True:
            if predicate():
                return
            await anyio.sleep(0.01)
