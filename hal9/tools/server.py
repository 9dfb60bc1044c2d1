"""The built-in MCP server: file_read, file_write, shell and web_fetch behind one layer's sandbox.

One server is built per policy (a layer's table, or ``tools.mcp`` for ``hal9 mcp``) and offers
only the tools that policy grants, so what a caller may do is fixed by which server it talks
to, never by what it sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import structlog
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from pydantic import Field

import hal9
from hal9.config import LayerTools, ToolsConfig
from hal9.errors import SandboxViolation, ToolError, ViolationType
from hal9.tools.files import FileSandbox
from hal9.tools.shell import ShellSandbox
from hal9.tools.web import Resolver, WebFetcher, resolve

log = structlog.get_logger("hal9.tools")

#: Called for every refusal: (policy name, tool, violation type).
ViolationHook = Callable[[str, str, ViolationType], None]

DESCRIPTIONS = {
    "file_read": "Read a UTF-8 text file. The path is relative to the sandbox folder.",
    "file_write": "Create or replace a text file (atomically; parent folders are created). "
    "The path is relative to the sandbox folder.",
    "shell": "Run one command from the allow list, given as an argv list (no shell: no pipes, globs or "
    "redirections), in the sandbox folder. Returns the exit code, stdout and stderr.",
    "web_fetch": "Fetch an http or https URL from a public host with GET; returns the status and the body as text.",
}


@dataclass(frozen=True, slots=True)
class Sandbox:
    """One policy's file, shell and web sandboxes."""

    name: str
    files: FileSandbox
    shell: ShellSandbox
    web: WebFetcher

    @classmethod
    def build(
        cls,
        name: str,
        policy: LayerTools,
        settings: ToolsConfig,
        root: Path,
        resolver: Resolver = resolve,
        protected: tuple[Path, ...] = (),
    ) -> Sandbox:
        """The sandbox of ``policy``: its own root if it sets one, else ``root``; ``protected`` is off limits."""
        folder = policy.root if policy.root is not None else root
        return cls(
            name=name,
            files=FileSandbox(
                folder,
                max_read_bytes=settings.max_read_bytes,
                max_write_bytes=settings.max_write_bytes,
                protected=protected,
            ),
            shell=ShellSandbox(
                folder,
                policy.commands,
                timeout=settings.shell_timeout,
                max_output_bytes=settings.shell_max_output_bytes,
                landlock=settings.shell_landlock,
                protected=protected,
            ),
            web=WebFetcher(
                hosts=policy.hosts,
                allowed_networks=settings.web_allowed_networks,
                timeout=settings.web_timeout,
                max_bytes=settings.web_max_bytes,
                max_redirects=settings.web_max_redirects,
                resolver=resolver,
            ),
        )


def build_server(sandbox: Sandbox, tools: tuple[str, ...], on_violation: ViolationHook) -> MCPServer:
    """An MCP server offering ``tools`` (built-in names) through ``sandbox``.

    Every refusal becomes a tool error for the caller, a ``tools.violation`` warning and a
    call of ``on_violation``.
    """
    server = MCPServer(f"hal9-{sandbox.name}", version=hal9.__version__, log_level="WARNING")

    def refused(tool: str, violation: SandboxViolation) -> MCPToolError:
        log.warning(
            "tools.violation",
            policy=sandbox.name,
            tool=tool,
            violation_type=violation.violation_type,
            detail=str(violation)[:500],
        )
        on_violation(sandbox.name, tool, violation.violation_type)
        return MCPToolError(str(violation))

    async def file_read(path: Annotated[str, Field(description="relative to the sandbox folder")]) -> str:
        try:
            return await sandbox.files.read(path)
        except SandboxViolation as violation:
            raise refused("file_read", violation) from None
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None

    async def file_write(
        path: Annotated[str, Field(description="relative to the sandbox folder")],
        content: Annotated[str, Field(description="the whole new text of the file")],
    ) -> str:
        try:
            written = await sandbox.files.write(path, content)
        except SandboxViolation as violation:
            raise refused("file_write", violation) from None
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        return f"wrote {written} bytes to {path}"

    async def shell(
        argv: Annotated[list[str], Field(description="the command and its arguments, e.g. ['ls', '-l']")],
    ) -> str:
        try:
            result = await sandbox.shell.run(argv)
        except SandboxViolation as violation:
            raise refused("shell", violation) from None
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        return result.as_text()

    async def web_fetch(url: Annotated[str, Field(description="an http or https URL")]) -> str:
        try:
            result = await sandbox.web.fetch(url)
        except SandboxViolation as violation:
            raise refused("web_fetch", violation) from None
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        return result.as_text()

    functions: dict[str, Callable[..., Awaitable[str]]] = {
        "file_read": file_read,
        "file_write": file_write,
        "shell": shell,
        "web_fetch": web_fetch,
    }
    for name in tools:
        if name in functions:
            server.add_tool(functions[name], name=name, description=DESCRIPTIONS[name], structured_output=False)
    return server
