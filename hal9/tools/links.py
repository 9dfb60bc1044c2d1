"""MCP clients owned by long-lived tasks: the built-in server in process, external servers.

A client's context (the SDK's task groups, a stdio child process) must be entered and left
in one task. Each :class:`Link` runs its :class:`mcp.Client` in a task of the tool service's
group, started on first use, and hands the client to callers from any task. A client that
fails is logged and dropped; the next call opens a new one.

The SDK's ``Client`` negotiates the protocol era on entry (``mode="auto"``): it probes
``server/discover`` and falls back to the ``initialize`` handshake for servers that predate
2026-07-28, so older external servers keep working. The built-in server is reached in process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client, MCPError, StdioServerParameters, types
from mcp.client.stdio import get_default_environment
from mcp.server.mcpserver import MCPServer

from hal9.config import ExternalToolServer
from hal9.errors import ToolError

log = structlog.get_logger("hal9.tools")

#: Builds a new, not yet entered client (a ``Client`` is entered once).
Opener = Callable[[], Client]
#: The Messages API's rule for tool names.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS_PER_SERVER = 128
MAX_LIST_PAGES = 16


def in_memory(server: MCPServer) -> Opener:
    """A client of ``server`` in this process (the SDK calls its handlers directly, no transport)."""

    def open_client() -> Client:
        return Client(server)

    return open_client


def external(settings: ExternalToolServer) -> Opener:
    """A client of an external server: a stdio child process, or streamable HTTP."""
    target: str | StdioServerParameters
    if settings.url is not None:
        target = settings.url
    else:
        command, *args = settings.command
        # The SDK's default environment (PATH, HOME, USER...) plus the configured variables:
        # no API key of ours reaches the child.
        target = StdioServerParameters(command=command, args=args, env={**get_default_environment(), **settings.env})

    def open_client() -> Client:
        return Client(target)

    return open_client


class Link:
    """One MCP server as a client sees it: its client (connected on demand) and its tools.

    Args:
        name: the server's name, for logs.
        opener: builds a client; entering it connects and negotiates.
        connect_timeout: seconds to connect and list the server's tools.
    """

    def __init__(self, name: str, opener: Opener, connect_timeout: float) -> None:
        self.name = name
        self._opener = opener
        self._connect_timeout = connect_timeout
        self.client: Client | None = None
        self.tools: tuple[types.Tool, ...] = ()
        self._lock = anyio.Lock()
        self._scope: anyio.CancelScope | None = None

    def discard(self, client: Client) -> None:
        """Close ``client`` (its transport broke) if it is still the open one; the next call reconnects."""
        if self.client is client and self._scope is not None:
            self.client = None
            self._scope.cancel()

    async def get(self, tasks: TaskGroup) -> Client:
        """The connected client, connecting it in a task of ``tasks`` if there is none.

        Raises:
            ToolError: the server could not be reached or initialized in time.
        """
        async with self._lock:
            if self.client is None:
                try:
                    with anyio.fail_after(self._connect_timeout):
                        self.client = await tasks.start(self._own, name=f"mcp:{self.name}")
                except TimeoutError:
                    raise ToolError(
                        f"MCP server {self.name!r} did not answer within {self._connect_timeout:g}s"
                    ) from None
                except Exception as exc:  # noqa: BLE001 - the SDK's and the transport's errors alike: the caller gets a message
                    raise ToolError(f"cannot connect to MCP server {self.name!r}: {_describe(exc)}") from None
            return self.client

    async def _own(self, *, task_status: TaskStatus[Client]) -> None:
        started: Client | None = None
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                async with self._opener() as client:
                    self.tools = await _list_tools(client)
                    started = client
                    task_status.started(client)
                    await anyio.sleep_forever()
            except Exception as exc:
                if started is None:
                    raise
                # After start-up this task belongs to the service's group: a failure here must
                # never reach it (it would cancel the runtime). The next call reconnects.
                log.warning("tools.server_lost", server=self.name, error=_describe(exc))
            finally:
                if started is not None and self.client is started:
                    self.client = None
        if scope.cancelled_caught:
            log.warning("tools.server_lost", server=self.name, error="the connection broke")


def is_disconnect(exc: BaseException) -> bool:
    """Whether a call failed because the client's transport is gone (the server exited, the stream closed)."""
    if isinstance(exc, MCPError):
        return exc.code == types.CONNECTION_CLOSED
    return isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream)


async def _list_tools(client: Client) -> tuple[types.Tool, ...]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor or len(tools) >= MAX_TOOLS_PER_SERVER:
            break
    return tuple(tools[:MAX_TOOLS_PER_SERVER])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text: Any = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
