"""``ToolService``: the tools a layer may use, over MCP, measured and sandboxed.

Each layer with built-in tools in its table talks to its own in-memory instance of the
built-in server (:mod:`hal9.tools.server`), whose sandbox is that layer's; external servers
named in ``[tools.servers]`` are reached over stdio or streamable HTTP. Nothing is built or
connected until a layer first asks for its tools, so an unused service costs one idle task
group. Every call, built-in or external, is counted in ``hal9_mcp_tool_invocations_total`` and
timed in ``hal9_mcp_tool_duration_seconds`` under its tool name (built-in and discovered external
tools; anything else is ``other``); every refusal in ``hal9_mcp_security_violations_total``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.config import BUILTIN_TOOLS, ToolsConfig
from hal9.errors import ToolError, ViolationType
from hal9.layer import Layer
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.llm import ToolSpec
from hal9.runtime.service import OperationMetrics, Service
from hal9.runtime.tools import ToolOutput
from hal9.support.background import BackgroundTasks
from hal9.tools.placement import default_workspace, refuse_roots_around
from hal9.tools.web import Resolver, resolve

if TYPE_CHECKING:
    from mcp import types
    from prometheus_client import Counter

    from hal9.config import Config
    from hal9.tools.links import Link

log = structlog.get_logger("hal9.tools")

TOOL_OPERATIONS = OperationMetrics(fam.MCP_TOOL_INVOCATIONS, fam.MCP_TOOL_DURATION)
OTHER = "other"
#: External tool names that get a label of their own; more fall into ``other``.
MAX_EXTERNAL_LABELS = 64
#: The series that exist at zero from the start: the contract's violation types where they can occur
#: (forbidden_host and forbidden_tool series appear with their first count).
_EXPECTED_VIOLATIONS: tuple[tuple[str, ViolationType], ...] = (
    ("file_read", "path_traversal"),
    ("file_write", "path_traversal"),
    ("shell", "forbidden_command"),
)


class _Failed(Exception):
    """Carries an error output out of the measured block, so it is counted as an error."""

    def __init__(self, output: ToolOutput) -> None:
        super().__init__(output.text)
        self.output = output


class ToolService(Service):
    """MCP tools for neurons: ``await self.tools.call("file_read", {"path": "notes.txt"}, layer=self.layer)``.

    Args:
        settings: the ``[tools]`` configuration.
        root: the sandbox folder of layers that set none (``tools.root``, else ``<data_dir>-workspace``).
        resolver: how web_fetch resolves host names (tests give their own).
        protected: folders the file tools may not touch even inside a root (``data_dir`` from config).
        temporary_root: work in a private temporary folder, made when the service starts and
            removed when it stops, instead of ``root`` (a configuration without ``data_dir``).
    """

    name = "tools"
    operation_metrics = TOOL_OPERATIONS

    def __init__(
        self,
        settings: ToolsConfig | None = None,
        *,
        root: Path | None = None,
        resolver: Resolver = resolve,
        protected: tuple[Path, ...] = (),
        temporary_root: bool = False,
    ) -> None:
        self.settings = settings if settings is not None else ToolsConfig()
        self.root = root if root is not None else (self.settings.root or Path.cwd())
        self._temporary_root = temporary_root
        self.resolver = resolver
        self.protected = protected
        self._builtin: dict[Layer, Link] = {}
        self._servers: dict[str, Link] = {}
        self._external_tools: dict[str, Link] = {}
        self._labels: set[str] = set(BUILTIN_TOOLS)
        self._definitions: dict[Layer, tuple[ToolSpec, ...]] = {}
        self._violation_children: dict[tuple[str, str], Counter] = {}
        self._background = BackgroundTasks()
        self.limiter = anyio.CapacityLimiter(self.settings.max_concurrency)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        settings = config.tools
        if config.data_dir is None:
            # Nothing of HAL9's own on disk to keep the tools away from; nothing written where it runs.
            return cls(settings, temporary_root=settings.root is None)
        root = settings.root if settings.root is not None else default_workspace(config.data_dir)
        roots = {"tools.root": root}
        roots.update(
            {f"tools.layers.{layer}.root": policy.root for layer, policy in settings.layers.items() if policy.root}
        )
        refuse_roots_around(config.data_dir, roots)
        return cls(settings, root=root, protected=(config.data_dir,))

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Run the task group the clients live in; on exit every client is closed (stdio servers are ended)."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        if self._temporary_root:
            self.root = Path(await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="hal9-workspace-")))
        try:
            async with self._background:
                yield self
        finally:
            self._definitions.clear()
            if self._temporary_root:
                self._builtin.clear()  # their sandboxes are of this folder
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(lambda: shutil.rmtree(self.root, ignore_errors=True))

    # -- metrics ---------------------------------------------------------------------------

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        family = fam.MCP_SECURITY_VIOLATIONS
        self._violations = metrics.counter(family.name, family.help, family.labels)
        self._violation_children = {}
        for tool in BUILTIN_TOOLS:
            self.measure(tool=tool)
        for tool, violation_type in _EXPECTED_VIOLATIONS:
            self._violation_child(tool, violation_type)

    def _violation_child(self, tool: str, violation_type: str) -> Counter:
        key = (tool if tool in self._labels else OTHER, violation_type)
        child = self._violation_children.get(key)
        if child is None:
            child = self._violation_children[key] = self._violations.labels(*key)
        return child

    def record_violation(self, policy: str, tool: str, violation_type: ViolationType) -> None:
        """Count one refusal (the built-in servers call this; so does a refused tool name)."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        self._violation_child(tool, violation_type).inc()

    # -- the protocol ----------------------------------------------------------------------

    def permitted(self, layer: Layer | None) -> tuple[str, ...]:
        """The tool and server names ``layer``'s table grants."""
        policy = self.settings.layers.get(layer) if layer is not None else None
        return policy.tools if policy is not None else ()

    async def definitions(self, layer: Layer | None = None) -> tuple[ToolSpec, ...]:
        """The tools ``layer`` may use; a server that cannot be reached is logged and left out."""
        cached = self._definitions.get(layer) if layer is not None else None
        if cached is not None:
            return cached
        permitted = self.permitted(layer)
        if layer is None or not permitted:
            return ()
        specs: list[ToolSpec] = []
        complete = True
        if any(name in BUILTIN_TOOLS for name in permitted):
            link = self._builtin_link(layer)
            await link.get(self._running())
            specs.extend(_spec(tool) for tool in link.tools)
        for server in (name for name in permitted if name in self.settings.servers):
            try:
                specs.extend(await self._connect_external(server))
            except ToolError as exc:
                complete = False
                log.warning("tools.server_unavailable", server=server, error=str(exc))
        result = tuple(specs)
        if complete:
            self._definitions[layer] = result
        return result

    async def call(self, name: str, arguments: Mapping[str, Any], *, layer: Layer | None = None) -> ToolOutput:
        """Run tool ``name`` for ``layer``; failures and refusals come back as error outputs."""
        label = name if name in self._labels else OTHER
        try:
            async with self.measure(tool=label):
                output = await self._call(name, arguments, layer)
                if output.is_error:
                    raise _Failed(output)
        except _Failed as failed:
            return failed.output
        return output

    async def _call(self, name: str, arguments: Mapping[str, Any], layer: Layer | None) -> ToolOutput:
        permitted = self.permitted(layer)
        if name in BUILTIN_TOOLS and name in permitted and layer is not None:
            link = self._builtin_link(layer)
        elif name in self._external_tools and self._external_tools[name].name in permitted:
            link = self._external_tools[name]
        elif name in self._labels:
            where = f"layer {layer}" if layer is not None else "a caller without a layer"
            log.warning("tools.violation", policy=str(layer), tool=name, violation_type="forbidden_tool")
            self.record_violation(str(layer), name, "forbidden_tool")
            return ToolOutput(f"forbidden_tool: {where} may not use {name!r}", is_error=True)
        else:
            return ToolOutput(f"unknown tool {name[:100]!r}", is_error=True)
        try:
            client = await link.get(self._running())
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        try:
            with anyio.fail_after(self.settings.call_timeout):
                async with self.limiter:
                    result = await client.call_tool(name, dict(arguments))
        except TimeoutError:
            return ToolOutput(f"{name} took longer than {self.settings.call_timeout:g}s", is_error=True)
        except Exception as exc:  # noqa: BLE001 - a transport or protocol failure is this call's error, not the neuron's
            from hal9.tools.links import is_disconnect

            if is_disconnect(exc):
                link.discard(client)  # the server is gone: the next call starts or reaches it again
            return ToolOutput(f"{name} failed: {type(exc).__name__}: {str(exc)[:500]}", is_error=True)
        return ToolOutput(self._text(result), is_error=result.is_error)

    def _text(self, result: types.CallToolResult) -> str:
        # Text blocks as they are; images, audio and resources named (the model gets text only).
        parts = [
            getattr(block, "text", "") if block.type == "text" else f"[{block.type} content]"
            for block in result.content
        ]
        text = "\n".join(parts)
        limit = self.settings.max_result_chars
        return text if len(text) <= limit else text[:limit] + "\n(cut at the result limit)"

    # -- links -----------------------------------------------------------------------------

    def _running(self) -> TaskGroup:
        group = self._background.group
        if group is None:
            raise ToolError("the tool service is not started")
        return group

    def _builtin_link(self, layer: Layer) -> Link:
        link = self._builtin.get(layer)
        if link is None:
            # Imported on first use: the mcp SDK costs a few tenths of a second to import,
            # which a runtime whose layers use no tools never pays.
            from hal9.tools.links import Link, in_memory
            from hal9.tools.server import Sandbox, build_server

            policy = self.settings.layers[layer]
            sandbox = Sandbox.build(str(layer), policy, self.settings, self.root, self.resolver, self.protected)
            builtin = tuple(name for name in policy.tools if name in BUILTIN_TOOLS)
            server = build_server(sandbox, builtin, self.record_violation)
            link = self._builtin[layer] = Link(f"builtin-{layer}", in_memory(server), self.settings.call_timeout)
        return link

    async def _connect_external(self, server: str) -> list[ToolSpec]:
        from hal9.tools.links import TOOL_NAME, Link, external

        link = self._servers.get(server)
        if link is None:
            settings = self.settings.servers[server]
            link = self._servers[server] = Link(server, external(settings), settings.connect_timeout)
        await link.get(self._running())
        specs = []
        for tool in link.tools:
            owner = self._external_tools.get(tool.name)
            if (
                tool.name in BUILTIN_TOOLS
                or (owner is not None and owner is not link)
                or not TOOL_NAME.match(tool.name)
            ):
                log.warning("tools.tool_skipped", server=server, tool=tool.name[:100], reason="invalid or taken name")
                continue
            if owner is None:
                self._external_tools[tool.name] = link
                if len(self._labels) < len(BUILTIN_TOOLS) + MAX_EXTERNAL_LABELS:
                    self._labels.add(tool.name)
                    self.measure(tool=tool.name)  # its series exist at zero from now on
            specs.append(_spec(tool))
        return specs


def _spec(tool: types.Tool) -> ToolSpec:
    return ToolSpec(name=tool.name, description=tool.description or tool.name, input_schema=tool.input_schema)
