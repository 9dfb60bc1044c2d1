"""`python -m hal9 mcp` driven by the mcp SDK's own client over stdio: every tool listed and called.

Once per protocol era: the ``initialize`` handshake (2025-11-25 and before, what most MCP hosts send) and
the 2026-07-28 ``server/discover`` era the SDK's client negotiates by default.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import get_default_environment
from mcp.types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

pytestmark = pytest.mark.slow

CONFIG = """\
services = { llm = "hal9.llm:LLMService", memory = "hal9.memory:SQLiteMemory" }

[llm]
mode = "mock"

[tools.mcp]
tools = ["file_read", "file_write", "shell", "web_fetch"]
commands = ["echo", "ls"]
"""


@asynccontextmanager
async def hal9_mcp(folder: Path, mode: str, state: Path) -> AsyncIterator[Client]:
    """A client of `python -m hal9 mcp` started in ``folder`` (its sandbox root), connected in ``mode``.

    ``state`` is its XDG state home, where its data goes (never below the folder it serves).
    """
    (folder / "hal9.toml").write_text(CONFIG)
    environment = {"HAL9_LOGGING__LEVEL": "warning", "XDG_STATE_HOME": str(state)}
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hal9", "mcp", "--config", "hal9.toml"],
        cwd=folder,
        env={**get_default_environment(), **environment},
    )
    async with Client(parameters, mode=mode) as client:
        yield client


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "version"), [("legacy", LATEST_HANDSHAKE_VERSION), ("auto", LATEST_MODERN_VERSION)])
async def test_an_mcp_client_lists_and_calls_every_tool_over_stdio(tmp_path: Path, mode: str, version: str) -> None:
    (tmp_path / "outside.txt").write_text("outside")
    folder = tmp_path / "work"
    folder.mkdir()
    async with hal9_mcp(folder, mode, tmp_path / "state") as client:
        negotiated = client.protocol_version
        listed = await client.list_tools()
        written = await client.call_tool("file_write", {"path": "docs/a.txt", "content": "from the client"})
        read = await client.call_tool("file_read", {"path": "docs/a.txt"})
        escape = await client.call_tool("file_read", {"path": "../outside.txt"})
        echo = await client.call_tool("shell", {"argv": ["echo", "hello", "mcp"]})
        shell = await client.call_tool("shell", {"argv": ["sh", "-c", "id"]})
        fetch = await client.call_tool("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"})
        asked = await client.call_tool("ask", {"question": "Build a todo app"})
        bad = await client.call_tool("file_read", {})
        own_data = await client.call_tool("file_read", {"path": "../state/hal9/hal9.db"})
        own_data_shell = await client.call_tool("shell", {"argv": ["ls", "-R"]})

    assert negotiated == version
    assert sorted(tool.name for tool in listed.tools) == ["ask", "file_read", "file_write", "shell", "web_fetch"]
    assert not written.is_error
    assert (folder / "docs" / "a.txt").read_text() == "from the client"
    assert (read.is_error, text(read)) == (False, "from the client")
    assert escape.is_error
    assert "path_traversal" in text(escape)
    assert not echo.is_error
    assert "hello mcp" in text(echo)
    assert shell.is_error
    assert "forbidden_command" in text(shell)
    assert fetch.is_error
    assert "forbidden_host" in text(fetch)
    assert not asked.is_error
    answer = json.loads(text(asked))
    assert answer["status"] == "completed"
    assert answer["outputs"]
    assert all(output.startswith("Implemented:") for output in answer["outputs"])
    assert bad.is_error  # a missing argument is the client's error, and the server goes on
    # Its data went to the XDG state folder, not into the folder it serves, where no tool reaches it.
    assert (tmp_path / "state" / "hal9" / "hal9.db").exists()
    assert not (folder / "hal9-data").exists()
    assert own_data.is_error
    assert "path_traversal" in text(own_data)
    assert not own_data_shell.is_error
    assert "hal9.db" not in text(own_data_shell)
