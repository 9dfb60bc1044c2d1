"""Fixtures: a runtime with auth on, served in process, with its data in the test's folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from hal9 import Runtime
from hal9.auth import Role, auth_services
from hal9.server import create_app
from tests.auth.helpers import AuthApi, auth_config
from tests.cli.conftest import start_server  # noqa: F401 (the real-server fixture, shared)

OpenAuthApi = Callable[..., Awaitable[AuthApi]]


@pytest.fixture
async def open_auth_api(tmp_path: Path) -> AsyncIterator[OpenAuthApi]:
    """Start a runtime with auth (``[auth]`` settings as keywords) and its app; stopped at teardown."""
    async with AsyncExitStack() as stack:

        async def open_(**auth: Any) -> AuthApi:
            config = auth_config(tmp_path / "data", **auth)
            runtime = Runtime(config, services=auth_services(config))
            await stack.enter_async_context(runtime)
            app = create_app(runtime)
            # A fixed client address, so the per-address login limit is testable.
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
            client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))
            api = AuthApi(runtime, app, client, "")
            api.admin_key = await api.key(Role.ADMIN)
            return api

        yield open_


@pytest.fixture
async def api(open_auth_api: OpenAuthApi) -> AuthApi:
    """Auth on with the default settings (cheap hashing), and an admin API key."""
    return await open_auth_api()
