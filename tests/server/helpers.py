"""The in-process API the server tests share: a runtime, a client on its app, a config builder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from hal9 import Config, Runtime
from tests.support import LLM_ONLY


@dataclass
class Api:
    """A running runtime and a client that calls its app without a socket."""

    runtime: Runtime
    client: httpx.AsyncClient

    def sample(self, name: str, **labels: str) -> float | None:
        """One sample of the runtime's registry, read as a scrape would (collectors run)."""
        return self.runtime.metrics.sample(name, labels)


OpenApi = Callable[..., Awaitable[Api]]


def make_config(**sections: Any) -> Config:
    """Defaults with a fixed server id, a short drain, the LLM as the only service (unless
    ``services`` is given), auth off (``auth={"enabled": True}`` turns it on) and the given
    sections (``server={...}``)."""
    data: dict[str, Any] = {
        "server_id": "test",
        "runtime": {"drain_timeout": 5.0},
        "services": LLM_ONLY,
        "auth": {"enabled": False},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return Config.model_validate(data)
