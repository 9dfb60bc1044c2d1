"""MCP client sessions owned by long-lived tasks: the built-in server in memory, external servers.

A session's context (the SDK's task groups, a stdio child process) must be entered and left
in one task. Each :class:`Link` runs its session in a task of the tool service's group,
started on first use, and hands the session to callers from any task. A session that fails
is logged and dropped; the next call opens a new one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import get_default_environment, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.fastmcp import FastMCP
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session

from hal9.config import ExternalToolServer
from hal9.tools.errors import ToolError

log = structlog.get_logger("hal9.tools")

Opener = Callable[[], AbstractAsyncContextManager[ClientSession]]
#: The Messages API's rule for tool names.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS_PER_SERVER = 128
MAX_LIST_PAGES = 16


def in_memory(server: FastMCP) -> Opener:
    """A session with ``server`` over the SDK's in-memory transport."""

    def open_session() -> AbstractAsyncContextManager[ClientSession]:
        return create_connected_server_and_client_session(server)

    return open_session


def external(settings: ExternalToolServer) -> Opener:
    """A session with an external server: a stdio child process, or streamable HTTP."""

    @asynccontextmanager
    async def open_session() -> AsyncIterator[ClientSession]:
        if settings.url is not None:
            async with (
                streamable_http_client(settings.url) as (read, write, _session_id),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session
            return
        command, *args = settings.command
        # The SDK's default environment (PATH, HOME, USER...) plus the configured variables:
        # no API key of ours reaches the child.
        parameters = StdioServerParameters(
            command=command, args=args, env={**get_default_environment(), **settings.env}
        )
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session

    return open_session


class Link:
    """One MCP server as a client sees it: its session (opened on demand) and its tools.

    Args:
        name: the server's name, for logs.
        opener: opens an initialized session.
        connect_timeout: seconds to open it and list its tools.
    """

    def __init__(self, name: str, opener: Opener, connect_timeout: float) -> None:
        self.name = name
        self._opener = opener
        self._connect_timeout = connect_timeout
        self.session: ClientSession | None = None
        self.tools: tuple[types.Tool, ...] = ()
        self._lock = anyio.Lock()
        self._scope: anyio.CancelScope | None = None

    def discard(self, session: ClientSession) -> None:
        """Close ``session`` (its transport broke) if it is still the open one; the next call reconnects."""
        if self.session is session and self._scope is not None:
            self.session = None
            self._scope.cancel()

    async def get(self, tasks: TaskGroup) -> ClientSession:
        """The open session, opening it in a task of ``tasks`` if there is none.

        Raises:
            ToolError: the server could not be reached or initialized in time.
        """
        async with self._lock:
            if self.session is None:
                try:
                    with anyio.fail_after(self._connect_timeout):
                        self.session = await tasks.start(self._own, name=f"mcp:{self.name}")
                except TimeoutError:
                    raise ToolError(
                        f"MCP server {self.name!r} did not answer within {self._connect_timeout:g}s"
                    ) from None
                except Exception as exc:  # noqa: BLE001 - the SDK's and the transport's errors alike: the caller gets a message
                    raise ToolError(f"cannot connect to MCP server {self.name!r}: {_describe(exc)}") from None
            return self.session

    async def _own(self, *, task_status: TaskStatus[ClientSession]) -> None:
        started: ClientSession | None = None
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                async with self._opener() as session:
                    self.tools = await _list_tools(session)
                    started = session
                    task_status.started(session)
                    await anyio.sleep_forever()
            except Exception as exc:
                if started is None:
                    raise
                # After start-up this task belongs to the service's group: a failure here must
                # never reach it (it would cancel the runtime). The next call reconnects.
                log.warning("tools.server_lost", server=self.name, error=_describe(exc))
            finally:
                if started is not None and self.session is started:
                    self.session = None
        if scope.cancelled_caught:
            log.warning("tools.server_lost", server=self.name, error="the connection broke")


def is_disconnect(exc: BaseException) -> bool:
    """Whether a call failed because the session's transport is gone (the server exited, the stream closed)."""
    if isinstance(exc, McpError):
        return exc.error.code == types.CONNECTION_CLOSED
    return isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream)


async def _list_tools(session: ClientSession) -> tuple[types.Tool, ...]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await session.list_tools(cursor=cursor) if cursor else await session.list_tools()
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor or len(tools) >= MAX_TOOLS_PER_SERVER:
            break
    return tuple(tools[:MAX_TOOLS_PER_SERVER])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text: Any = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
