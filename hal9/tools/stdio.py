"""``hal9 mcp``: the built-in tools and the neuron network as an MCP server over stdio.

Any MCP client (Claude Desktop, an IDE, the SDK's own client) starts ``python -m hal9 mcp``
and gets the tools ``tools.mcp`` grants, sandboxed in its root (the configured
``tools.mcp.root``, else the folder the command is started in), plus ``ask``: a question
answered by the whole network of the configuration, run in this process.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import structlog
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from pydantic import Field

from hal9.config import DEFAULT_DATA_DIR, Config
from hal9.errors import Hal9Error, ViolationType
from hal9.metrics import families as fam
from hal9.runtime.runtime import Runtime
from hal9.tools.placement import data_dir_outside
from hal9.tools.server import Sandbox, build_server

log = structlog.get_logger("hal9.tools")

ASK_DESCRIPTION = (
    "Ask the HAL9 neuron network a question: it is decomposed by the strategic layer, designed and "
    "implemented by the layers below, and their answers are returned."
)


def build_stdio_server(config: Config, runtime: Runtime, root: Path) -> MCPServer:
    """The server ``hal9 mcp`` runs: the granted built-in tools in ``root``, and ``ask`` on ``runtime``."""
    violations = runtime.metrics.counter(
        fam.MCP_SECURITY_VIOLATIONS.name, fam.MCP_SECURITY_VIOLATIONS.help, fam.MCP_SECURITY_VIOLATIONS.labels
    )

    def on_violation(_policy: str, tool: str, violation_type: ViolationType) -> None:
        violations.labels(tool, violation_type).inc()

    # The runtime keeps its database in data_dir, often inside the folder `hal9 mcp` is started in.
    protected = (config.data_dir,) if config.data_dir is not None else ()
    sandbox = Sandbox.build("mcp", config.tools.mcp, config.tools, root, protected=protected)
    server = build_server(sandbox, config.tools.mcp.tools, on_violation)
    timeout = config.server.request_timeout

    limit = config.server.max_content_chars

    async def ask(question: Annotated[str, Field(min_length=1, description="the request for the network")]) -> str:
        if len(question) > limit:
            raise MCPToolError(f"the question is longer than {limit} characters")
        try:
            result = await runtime.ask(question, timeout=timeout)
        except TimeoutError:
            raise MCPToolError(f"the network did not answer within {timeout:g}s") from None
        except Hal9Error as exc:
            raise MCPToolError(f"{type(exc).__name__}: {exc}") from None
        errors = [{"neuron_id": e.neuron_id, "error": e.error, "message": e.message} for e in result.errors]
        return json.dumps({"status": result.status, "outputs": result.outputs, "errors": errors}, default=str)

    server.add_tool(ask, name="ask", description=ASK_DESCRIPTION, structured_output=False)
    return server


async def serve_stdio(config: Config, root: Path) -> int:
    """Run the runtime and serve MCP on stdin/stdout until the client closes them.

    The data folder stays outside ``root``: a default one that would fall inside moves to the
    XDG state folder (``~/.local/state/hal9``); a configured one inside is refused.

    Raises:
        ConfigError: the configured data folder lies inside ``root``.
    """
    chosen = config.data_dir is not None
    data_dir = data_dir_outside(root, config.data_dir or DEFAULT_DATA_DIR, chosen=chosen)
    if data_dir != config.data_dir:
        config = config.model_copy(update={"data_dir": data_dir})
    # The SDK logs every failed tool call at info level: at HAL9's level that would be a second
    # line for each refusal (already logged as tools.violation) and each error the client gets.
    logging.getLogger("mcp").setLevel(max(logging.WARNING, logging.getLogger().level))
    async with Runtime(config) as runtime:
        server = build_stdio_server(config, runtime, root)
        log.info(
            "mcp.serving", root=str(root), data_dir=str(data_dir.resolve()), tools=[*config.tools.mcp.tools, "ask"]
        )
        await server.run_stdio_async()
    return 0
