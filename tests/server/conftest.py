"""Fixtures: an in-process API, a started runtime and an httpx client on its ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from hal9 import Config, Neuron, Runtime
from hal9.server import create_app
from tests.auth.conftest import open_auth_api  # noqa: F401 (runtime with auth on and an admin key, shared)
from tests.server.helpers import Api, OpenApi, make_config


@pytest.fixture
async def open_api() -> AsyncIterator[OpenApi]:
    """Start ``Runtime(config, neurons=...)`` and its app; everything stops (drains) at teardown."""
    async with AsyncExitStack() as stack:

        async def open_(
            config: Config | None = None,
            *,
            neurons: Iterable[Neuron] | None = None,
            connections: Iterable[tuple[str, str]] = (),
        ) -> Api:
            runtime = Runtime(config if config is not None else make_config(), neurons=neurons)
            for source, target in connections:
                runtime.connect(source, target)
            await stack.enter_async_context(runtime)
            app = create_app(runtime)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
            )
            return Api(runtime, client)

        yield open_


#: Every service that adds JSON routes: the LLM (mock), memory and learning.
FULL_SERVICES = {
    "llm": "hal9.llm:MockLLM",
    "memory": "hal9.memory:SQLiteMemory",
    "learning": "hal9.learning:LearningService",
}


@pytest.fixture
async def full_api(open_api: OpenApi, tmp_path: Path) -> Api:
    """The default network with memory and learning, so that every JSON route is there."""
    return await open_api(make_config(data_dir=str(tmp_path / "data"), services=FULL_SERVICES))


@pytest.fixture
async def api(open_api: OpenApi) -> Api:
    """The default L4 -> L3 -> L2 network on the mock LLM, served in process."""
    return await open_api()
