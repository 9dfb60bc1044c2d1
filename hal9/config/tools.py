"""The ``[tools]`` section: which tools, folders, commands and hosts each layer may use."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hal9.config.section import Section
from hal9.layer import Layer

#: Tool names of the built-in MCP server.
BUILTIN_TOOLS: tuple[str, ...] = ("file_read", "file_write", "shell", "web_fetch")
#: Commands that can never be on a shell allow list: shells, interpreters of their arguments,
#: wrappers that run another command, and network clients (web_fetch is the way out, checked).
NEVER_ALLOWED_COMMANDS: frozenset[str] = frozenset(
    {
        *("sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox", "env", "xargs", "sudo", "su"),
        *("doas", "nohup", "setsid", "timeout", "nice", "ionice", "chroot", "strace", "gdb", "ltrace", "watch"),
        *("ssh", "scp", "sftp", "nc", "ncat", "netcat", "socat", "telnet", "curl", "wget", "ftp", "rsync"),
        *("eval", "exec", "command", "builtin", "script", "expect", "flock", "stdbuf", "unshare", "nsenter"),
    }
)


#: Commands that can run other programs or write anywhere through their own scripts and flags
#: (sed ``e``/``w``, awk ``system()``, tar ``--to-command``, ``find -exec``, git hooks...): only
#: the kernel's confinement holds them, so they are refused on an allow list run unconfined.
RUNS_OTHER_PROGRAMS: frozenset[str] = frozenset(
    {
        *("sed", "awk", "gawk", "mawk", "nawk", "tar", "find", "make", "git", "perl", "python", "python3"),
        *("ruby", "node", "lua", "php", "tclsh", "ed", "vi", "vim", "emacs", "less", "more", "man", "zip"),
        *("sort", "parallel", "rpm", "dpkg", "apt", "pip", "npm", "cpio", "m4"),
    }
)


class LayerTools(Section):
    """What one layer's neurons may use: tools (built-in names or external server names), commands, hosts."""

    tools: tuple[str, ...] = ()
    commands: tuple[str, ...] = Field(default=(), description="the shell tool's allow list (bare command names)")
    hosts: tuple[str, ...] = Field(default=(), description="web_fetch host names; empty: any public host")
    root: Path | None = Field(default=None, description="this layer's sandbox folder; default: tools.root")

    @field_validator("commands")
    @classmethod
    def _safe_commands(cls, commands: tuple[str, ...]) -> tuple[str, ...]:
        for command in commands:
            if not command or "/" in command or "\\" in command or command.strip() != command:
                raise ValueError(f"{command!r} is not a bare command name")
            if command in NEVER_ALLOWED_COMMANDS:
                raise ValueError(f"{command!r} runs other commands or reaches the network and cannot be allowed")
        return commands


#: What ``hal9 mcp`` lets a client run by default: commands that only read, inside the root.
DEFAULT_MCP_COMMANDS: tuple[str, ...] = ("ls", "cat", "head", "tail", "wc", "grep", "pwd", "echo", "date")


class ExternalToolServer(Section):
    """An external MCP server: a stdio command, or a streamable HTTP URL."""

    command: tuple[str, ...] = Field(default=(), description="argv of a stdio server")
    url: str | None = Field(default=None, description="a streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp")
    env: dict[str, str] = Field(default_factory=dict, description="added to the SDK's minimal default environment")
    connect_timeout: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _one_transport(self) -> ExternalToolServer:
        if bool(self.command) == bool(self.url):
            raise ValueError("give exactly one of command (stdio) or url (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be http:// or https://")
        return self


class ToolsConfig(Section):
    """The tool service (``hal9.tools:ToolService``): the built-in MCP tools, external servers, the sandbox."""

    root: Path | None = Field(
        default=None, description="the sandbox folder; default <data_dir>-workspace, beside the data folder"
    )
    layers: dict[Layer, LayerTools] = Field(
        default_factory=dict, description="per layer; a layer not listed (by default: every layer) gets no tools"
    )
    mcp: LayerTools = Field(
        default_factory=lambda: LayerTools(tools=BUILTIN_TOOLS, commands=DEFAULT_MCP_COMMANDS),
        description="what `hal9 mcp` serves (its root defaults to the folder it is started in)",
    )
    servers: dict[str, ExternalToolServer] = Field(default_factory=dict)
    max_rounds: int = Field(default=4, ge=0, le=32, description="tool_use rounds per neuron answer")
    call_timeout: float = Field(default=60.0, gt=0, description="seconds a tool call may take, end to end")
    max_concurrency: int = Field(default=8, gt=0, description="tool calls in flight at once")
    max_result_chars: int = Field(default=20_000, gt=0, description="tool output returned to the LLM")
    max_read_bytes: int = Field(default=1_000_000, gt=0)
    max_write_bytes: int = Field(default=1_000_000, gt=0)
    shell_timeout: float = Field(default=10.0, gt=0, description="the process group is killed after this")
    shell_max_output_bytes: int = Field(default=65_536, gt=0, description="stdout and stderr each")
    shell_landlock: Literal["auto", "required", "off"] = Field(
        default="auto",
        description=(
            "confine commands by the kernel and refuse to run them where it cannot (auto; required is the same), "
            "or accept unconfined commands (off)"
        ),
    )
    web_timeout: float = Field(default=10.0, gt=0)
    web_max_bytes: int = Field(default=1_000_000, gt=0)
    web_max_redirects: int = Field(default=5, ge=0, le=20)
    web_allowed_networks: tuple[str, ...] = Field(
        default=(), description="CIDRs web_fetch may reach although not public, e.g. '10.0.0.0/8'"
    )

    @field_validator("web_allowed_networks")
    @classmethod
    def _networks(cls, networks: tuple[str, ...]) -> tuple[str, ...]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP network (CIDR)") from None
        return networks

    @field_validator("servers")
    @classmethod
    def _server_names(cls, servers: dict[str, ExternalToolServer]) -> dict[str, ExternalToolServer]:
        for name in servers:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or name in BUILTIN_TOOLS:
                raise ValueError(f"{name!r}: a server name is 1-64 letters, digits, '_', '.', '-', not a built-in tool")
        return servers

    @model_validator(mode="after")
    def _confined_where_commands_run_others(self) -> ToolsConfig:
        if self.shell_landlock != "off":
            return self
        for where, policy in [*((f"layers.{k}", v) for k, v in self.layers.items()), ("mcp", self.mcp)]:
            risky = sorted(set(policy.commands) & RUNS_OTHER_PROGRAMS)
            if risky:
                raise ValueError(
                    f"{where}.commands: {risky} can run other programs or write anywhere; with "
                    'tools.shell_landlock = "off" nothing but their arguments is checked, so they need confinement'
                )
        return self

    @model_validator(mode="after")
    def _known_tools(self) -> ToolsConfig:
        known = {*BUILTIN_TOOLS, *self.servers}
        for where, policy in [*((f"layers.{k}", v) for k, v in self.layers.items()), ("mcp", self.mcp)]:
            unknown = [name for name in policy.tools if name not in known]
            if unknown:
                raise ValueError(f"{where}.tools: unknown {unknown} (built-in tools or names in tools.servers)")
        return self
