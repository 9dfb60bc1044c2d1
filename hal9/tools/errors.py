"""Errors of the tool service and its sandbox."""

from __future__ import annotations

from typing import Literal

from hal9.errors import Hal9Error

#: Why the sandbox refused a call; a closed set, so it is a bounded metric label.
#: path_traversal: a path leaves the root (``..``, absolute, symlink, NUL, encoded forms);
#: forbidden_command: a command or argument the shell policy refuses;
#: forbidden_host: web_fetch to a non-public address, a host not allowed, or a non-http(s) URL;
#: forbidden_tool: a tool the caller's layer may not use.
ViolationType = Literal["path_traversal", "forbidden_command", "forbidden_host", "forbidden_tool"]
VIOLATION_TYPES: tuple[ViolationType, ...] = ("path_traversal", "forbidden_command", "forbidden_host", "forbidden_tool")


class ToolError(Hal9Error):
    """A tool call failed (bad input, a limit, an I/O error); the caller gets the message."""


class SandboxViolation(ToolError):
    """The sandbox refused a call before anything ran.

    Args:
        violation_type: one of :data:`VIOLATION_TYPES`.
        message: what was refused and why, for the caller.
    """

    def __init__(self, violation_type: ViolationType, message: str) -> None:
        super().__init__(f"{violation_type}: {message}")
        self.violation_type: ViolationType = violation_type
