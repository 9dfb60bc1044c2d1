"""External MCP servers named in config: mcp-server-time (from PyPI) over stdio, an MCPServer over HTTP."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer

from hal9 import Config, Layer
from hal9.config import ExternalToolServer, LayerTools, MockReply, MockToolUse, ToolsConfig
from hal9.neurons import ImplementationNeuron
from hal9.testing import running_runtime, scripted_llm
from hal9.tools import ToolService
from tests.tools.helpers import invocations, violations

pytestmark = pytest.mark.slow

TIME_SERVER = ExternalToolServer(command=(sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"))


def time_settings(root: Path) -> ToolsConfig:
    return ToolsConfig(
        root=root,
        servers={"time": TIME_SERVER},
        layers={Layer.L2: LayerTools(tools=("file_read", "time")), Layer.L3: LayerTools(tools=("file_read",))},
    )


@pytest.mark.anyio
async def test_a_neuron_calls_a_tool_of_a_third_party_server_named_in_config(tmp_path: Path) -> None:
    llm = scripted_llm(
        MockReply(
            layer=Layer.L2,
            trigger="time",
            tool_use=MockToolUse(name="get_current_time", input={"timezone": "Europe/Paris"}),
        ),
        MockReply(layer=Layer.L2, trigger="time", tool_round=1, reply="Now: {tool_result}"),
    )
    tools = ToolService(time_settings(tmp_path), root=tmp_path)
    async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services={"tools": tools}) as rt:
        offered = [tool.name for tool in await tools.definitions(Layer.L2)]
        result = await rt.ask("What time is it in Paris?")
        refused = await tools.call("get_current_time", {"timezone": "UTC"}, layer=Layer.L3)
        text = rt.metrics.render().decode()
    assert offered[0] == "file_read"
    assert {"get_current_time", "convert_time"} <= set(offered)
    (output,) = result.outputs
    answer = json.loads(output.removeprefix("Now: "))
    assert answer["timezone"] == "Europe/Paris"
    assert "datetime" in answer
    assert invocations(tools, "get_current_time", "success") == 1
    assert refused.is_error
    assert "forbidden_tool" in refused.text
    assert violations(tools, "get_current_time", "forbidden_tool") == 1
    # Both calls are measured: the one that ran, and the one refused for L3.
    assert 'hal9_mcp_tool_duration_seconds_count{tool="get_current_time"} 2.0' in text
    assert 'hal9_mcp_tool_invocations_total{status="error",tool="get_current_time"} 1.0' in text


@pytest.mark.anyio
async def test_an_unreachable_server_leaves_its_tools_out_and_the_neuron_still_answers(tmp_path: Path) -> None:
    broken = ExternalToolServer(command=(sys.executable, "-c", "raise SystemExit(3)"), connect_timeout=10)
    settings = ToolsConfig(servers={"broken": broken}, layers={Layer.L2: LayerTools(tools=("file_read", "broken"))})
    tools = ToolService(settings, root=tmp_path)
    llm = scripted_llm()
    async with running_runtime(neurons=[ImplementationNeuron("impl")], llm=llm, services={"tools": tools}) as rt:
        result = await rt.ask("Build it")
        unknown = await tools.call("no_such_tool", {}, layer=Layer.L2)
    assert result.ok
    assert llm.calls[0].tools == ("file_read",)
    assert unknown.is_error
    assert invocations(tools, "other", "error") == 1


def test_a_layer_may_only_name_known_tools_and_servers() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ToolsConfig(layers={Layer.L2: LayerTools(tools=("time",))})
    with pytest.raises(ValueError, match="exactly one"):
        ExternalToolServer(command=("x",), url="http://127.0.0.1:1/mcp")
    with pytest.raises(ValueError, match="CIDR"):
        ToolsConfig(web_allowed_networks=("intranet",))
    with pytest.raises(ValueError, match="server name"):
        ToolsConfig(servers={"file_read": TIME_SERVER})
    config = Config.model_validate({"tools": {"servers": {"time": {"command": ["mcp-server-time"]}}}})
    assert config.tools.servers["time"].command == ("mcp-server-time",)


@asynccontextmanager
async def http_mcp_server() -> AsyncIterator[str]:
    """An MCPServer with one tool, served over streamable HTTP on 127.0.0.1."""
    remote = MCPServer("remote", log_level="WARNING")

    async def add(a: int, b: int) -> str:
        return str(a + b)

    remote.add_tool(add, name="add", description="Add two integers", structured_output=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(remote.streamable_http_app(), log_config=None, lifespan="on", ws="none"))
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            try:
                yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
            finally:
                server.should_exit = True
    finally:
        sock.close()


@pytest.mark.anyio
async def test_a_streamable_http_server_named_by_url_serves_its_tools(tmp_path: Path) -> None:
    async with http_mcp_server() as url:
        settings = ToolsConfig(
            servers={"remote": ExternalToolServer(url=url)}, layers={Layer.L2: LayerTools(tools=("remote",))}
        )
        async with ToolService(settings, root=tmp_path) as tools:
            offered = await tools.definitions(Layer.L2)
            sum_ = await tools.call("add", {"a": 2, "b": 40}, layer=Layer.L2)
            invalid = await tools.call("add", {"a": "two"}, layer=Layer.L2)
    assert [tool.name for tool in offered] == ["add"]
    assert offered[0].input_schema["required"] == ["a", "b"]
    assert (sum_.text, sum_.is_error) == ("42", False)
    assert invalid.is_error
    assert invocations(tools, "add", "success") == 1
    assert invocations(tools, "add", "error") == 1


DYING_SERVER = """
import os
from mcp.server.mcpserver import MCPServer

app = MCPServer("dying", log_level="WARNING")


@app.tool()
def die() -> str:
    os._exit(3)


@app.tool()
def pid() -> str:
    return str(os.getpid())


app.run()
"""


@pytest.mark.anyio
async def test_a_server_that_exits_is_started_again_on_the_next_call(tmp_path: Path) -> None:
    script = tmp_path / "dying.py"
    script.write_text(DYING_SERVER)
    settings = ToolsConfig(
        servers={"dying": ExternalToolServer(command=(sys.executable, str(script)))},
        layers={Layer.L2: LayerTools(tools=("dying",))},
    )
    async with ToolService(settings, root=tmp_path) as tools:
        await tools.definitions(Layer.L2)
        first = await tools.call("pid", {}, layer=Layer.L2)
        died = await tools.call("die", {}, layer=Layer.L2)
        second = await tools.call("pid", {}, layer=Layer.L2)
    assert not first.is_error
    assert died.is_error
    assert "Connection closed" in died.text
    assert not second.is_error
    assert second.text != first.text  # a new process answers
    assert invocations(tools, "pid", "success") == 2
    assert invocations(tools, "die", "error") == 1


#: A server of the initialize-handshake era written against no SDK: JSON-RPC lines on stdio, 2025-06-18,
#: no ``server/discover``. It notes each method it is sent in the file named by its argument.
HANDSHAKE_ERA_SERVER = """
import json
import sys

TOOLS = [
    {
        "name": "shout",
        "description": "The text in capitals",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    }
]


def answer(request, result=None, error=None):
    reply = {"jsonrpc": "2.0", "id": request["id"]}
    reply.update({"error": error} if error else {"result": result})
    print(json.dumps(reply), flush=True)


for line in sys.stdin:
    request = json.loads(line)
    method = request.get("method")
    with open(sys.argv[1], "a") as seen:
        seen.write(f"{method}\\n")
    if "id" not in request:
        continue  # a notification
    if method == "initialize":
        info = {"name": "handshake-era", "version": "1.0"}
        answer(request, {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": info})
    elif method == "tools/list":
        answer(request, {"tools": TOOLS})
    elif method == "tools/call":
        text = request["params"].get("arguments", {}).get("text", "")
        answer(request, {"content": [{"type": "text", "text": text.upper() or "no text"}], "isError": not text})
    else:
        answer(request, error={"code": -32601, "message": "Method not found"})
"""


@pytest.mark.anyio
async def test_a_server_of_the_handshake_era_is_reached_with_initialize(tmp_path: Path) -> None:
    """The client probes for the 2026 era, and a server that predates it is spoken to as before."""
    script = tmp_path / "handshake_era.py"
    script.write_text(HANDSHAKE_ERA_SERVER)
    seen = tmp_path / "methods.txt"
    server = ExternalToolServer(command=(sys.executable, str(script), str(seen)))
    settings = ToolsConfig(servers={"old": server}, layers={Layer.L2: LayerTools(tools=("old",))})
    async with ToolService(settings, root=tmp_path) as tools:
        offered = await tools.definitions(Layer.L2)
        shouted = await tools.call("shout", {"text": "hello"}, layer=Layer.L2)
        empty = await tools.call("shout", {"text": ""}, layer=Layer.L2)
    assert [tool.name for tool in offered] == ["shout"]
    assert (shouted.text, shouted.is_error) == ("HELLO", False)
    assert (empty.text, empty.is_error) == ("no text", True)
    methods = seen.read_text().split()
    assert methods[:3] == ["server/discover", "initialize", "notifications/initialized"]
    assert methods.count("tools/call") == 2
    assert invocations(tools, "shout", "success") == 1
    assert invocations(tools, "shout", "error") == 1
