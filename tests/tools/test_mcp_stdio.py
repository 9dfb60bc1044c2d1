"""`python -m hal9 mcp` driven by the mcp SDK's own client over stdio: every tool listed and called."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import get_default_environment, stdio_client

pytestmark = pytest.mark.slow

CONFIG = """\
services = { llm = "hal9.llm:LLMService" }

[llm]
mode = "mock"

[tools.mcp]
tools = ["file_read", "file_write", "shell", "web_fetch"]
commands = ["echo", "ls"]
"""


@asynccontextmanager
async def hal9_mcp(folder: Path) -> AsyncIterator[ClientSession]:
    """A session with `python -m hal9 mcp` started in ``folder`` (its sandbox root)."""
    (folder / "hal9.toml").write_text(CONFIG)
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hal9", "mcp", "--config", "hal9.toml"],
        cwd=folder,
        env={**get_default_environment(), "HAL9_LOGGING__LEVEL": "warning"},
    )
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


@pytest.mark.anyio
async def test_an_mcp_client_lists_and_calls_every_tool_over_stdio(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("outside")
    folder = tmp_path / "work"
    (folder / "hal9-data").mkdir(parents=True)
    (folder / "hal9-data" / "hal9.db").write_text("the runtime's own database")
    async with hal9_mcp(folder) as session:
        listed = await session.list_tools()
        written = await session.call_tool("file_write", {"path": "docs/a.txt", "content": "from the client"})
        read = await session.call_tool("file_read", {"path": "docs/a.txt"})
        escape = await session.call_tool("file_read", {"path": "../outside.txt"})
        echo = await session.call_tool("shell", {"argv": ["echo", "hello", "mcp"]})
        shell = await session.call_tool("shell", {"argv": ["sh", "-c", "id"]})
        fetch = await session.call_tool("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"})
        asked = await session.call_tool("ask", {"question": "Build a todo app"})
        bad = await session.call_tool("file_read", {})
        own_data = await session.call_tool("file_write", {"path": "hal9-data/hal9.db", "content": "gone"})
        own_data_shell = await session.call_tool("shell", {"argv": ["ls", "hal9-data"]})

    assert sorted(tool.name for tool in listed.tools) == ["ask", "file_read", "file_write", "shell", "web_fetch"]
    assert not written.isError
    assert (folder / "docs" / "a.txt").read_text() == "from the client"
    assert (read.isError, text(read)) == (False, "from the client")
    assert escape.isError
    assert "path_traversal" in text(escape)
    assert not echo.isError
    assert "hello mcp" in text(echo)
    assert shell.isError
    assert "forbidden_command" in text(shell)
    assert fetch.isError
    assert "forbidden_host" in text(fetch)
    assert not asked.isError
    answer = json.loads(text(asked))
    assert answer["status"] == "completed"
    assert answer["outputs"]
    assert all(output.startswith("Implemented:") for output in answer["outputs"])
    assert bad.isError  # a missing argument is the client's error, and the server goes on
    assert own_data.isError
    assert "data folder" in text(own_data)
    assert (folder / "hal9-data" / "hal9.db").read_text() == "the runtime's own database"
    assert own_data_shell.isError
    assert "data folder" in text(own_data_shell)
