"""A started tool service for one layer's table, and its metric samples."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hal9 import Layer
from hal9.config import LayerTools, ToolsConfig
from hal9.tools import ToolService

INVOCATIONS = "hal9_mcp_tool_invocations_total"
DURATION = "hal9_mcp_tool_duration_seconds"
VIOLATIONS = "hal9_mcp_security_violations_total"
#: Commands the shell tests may run (all present on Debian).
COMMANDS = (
    "ls",
    "cat",
    "echo",
    "find",
    "grep",
    "sort",
    "sed",
    "awk",
    "printenv",
    "sleep",
    "yes",
    "tar",
    "wc",
    "python3",
)


def settings(root: Path | None = None, *, layer: Layer = Layer.L2, **overrides: Any) -> ToolsConfig:
    """A table granting ``layer`` the given tools (all four built-ins by default)."""
    policy = {
        "tools": overrides.pop("tools", ("file_read", "file_write", "shell", "web_fetch")),
        "commands": overrides.pop("commands", COMMANDS),
        "hosts": overrides.pop("hosts", ()),
    }
    return ToolsConfig(root=root, layers={layer: LayerTools(**policy)}, **overrides)


@asynccontextmanager
async def tool_service(root: Path, **overrides: Any) -> AsyncIterator[ToolService]:
    async with ToolService(settings(root, **overrides), root=root) as service:
        yield service


def violations(service: ToolService, tool: str, violation_type: str) -> float:
    return service.metrics.sample(VIOLATIONS, {"tool": tool, "violation_type": violation_type}) or 0.0


def invocations(service: ToolService, tool: str, status: str) -> float:
    return service.metrics.sample(INVOCATIONS, {"tool": tool, "status": status}) or 0.0
