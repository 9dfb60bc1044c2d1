"""MCP tools: the built-in tool server, clients for external MCP servers, and the sandbox.

Neurons reach them through :class:`ToolService` (``self.tools``), named ``tools`` in
``config.services``. The mcp SDK is imported only when a tool is first used.
"""

from typing import TYPE_CHECKING, Any

from hal9.errors import VIOLATION_TYPES, SandboxViolation, ToolError
from hal9.tools.service import ToolService

if TYPE_CHECKING:
    from hal9.tools.server import Sandbox, build_server

__all__ = ["VIOLATION_TYPES", "Sandbox", "SandboxViolation", "ToolError", "ToolService", "build_server"]


def __getattr__(name: str) -> Any:
    if name in ("Sandbox", "build_server"):
        from hal9.tools import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
