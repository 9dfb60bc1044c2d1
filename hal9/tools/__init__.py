"""MCP tools: the built-in tool server, clients for external MCP servers, and the sandbox.

Neurons reach them through :class:`ToolService` (``self.tools``), named ``tools`` in
``config.services``.
"""

from hal9.tools.errors import VIOLATION_TYPES, SandboxViolation, ToolError
from hal9.tools.server import Sandbox, build_server
from hal9.tools.service import ToolService

__all__ = ["VIOLATION_TYPES", "Sandbox", "SandboxViolation", "ToolError", "ToolService", "build_server"]
