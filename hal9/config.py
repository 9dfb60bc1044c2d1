"""Configuration: a TOML file validated by pydantic, with ``HAL9_SECTION__KEY`` overrides.

Unknown keys are errors everywhere, so a typo never silently falls back to a default.
Errors are raised as :class:`~hal9.errors.ConfigError` with the dotted key in the message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from hal9.errors import ConfigError
from hal9.runtime.layer import Layer

ENV_PREFIX = "HAL9_"
ENV_NESTING = "__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    request_timeout: float = Field(default=30.0, gt=0, description="wait=true answers 504 after this")
    max_content_chars: int = Field(default=100_000, gt=0)
    websocket_buffer: int = Field(default=256, gt=0, description="events queued per client before it is dropped")
    retry_after_seconds: int = Field(default=1, ge=1)


class RuntimeConfig(_Section):
    """Actors, mailboxes, supervision and result history."""

    mailbox_capacity: int = Field(default=64, gt=0)
    send_timeout: float = Field(default=5.0, ge=0, description="how long a sender waits on a full mailbox")
    drain_timeout: float = Field(default=10.0, ge=0)
    restart_backoff_initial: float = Field(default=0.05, gt=0)
    restart_backoff_max: float = Field(default=5.0, gt=0)
    max_traces: int = Field(default=10_000, gt=0, description="finished traces kept for GET /signals/{id}")
    max_path_hops: int = Field(default=1_000, gt=0, description="hops recorded per trace")


class NeuronConfig(_Section):
    """One neuron of the network and its forward connections."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    layer: Layer
    kind: str = Field(
        description="a built-in kind (strategic, design, implementation) or 'package.module:Class'",
    )
    downstream: tuple[str, ...] = ()
    mailbox_capacity: int | None = Field(default=None, gt=0)
    prompt: str | None = None
    server: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="the server_id of the server it runs on; None (or this server's id): here",
    )


class MockToolUse(_Section):
    """A tool call the mock LLM asks for."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    input: dict[str, Any] = Field(default_factory=dict)


class MockReply(_Section):
    """A scripted reply of the mock LLM: the first rule that matches a call answers it.

    With ``tool_use`` the reply asks for that tool (``reply`` is the text before the call).
    ``tool_round`` is the number of tool rounds the call follows (0: the first call), so a
    tool call and the final answer are two rules; ``{tool_result}`` in a reply is replaced by
    the text of the latest tool results.
    """

    layer: Layer | None = None
    trigger: str | None = Field(default=None, description="substring of the prompt that selects this reply")
    reply: str = ""
    tool_use: MockToolUse | None = None
    tool_round: int = Field(default=0, ge=0, description="tool rounds before the call this rule answers")


class MockLLMConfig(_Section):
    """The deterministic mock LLM."""

    model: str = "mock-claude"
    latency_seconds: float = Field(default=0.0, ge=0, le=60, description="simulated API latency")
    replies: tuple[MockReply, ...] = ()


class ModelPrice(_Section):
    """What a model costs, in US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float | None = Field(default=None, ge=0, description="default: 1.25 x input (5-minute cache)")
    cache_read: float | None = Field(default=None, ge=0, description="default: 0.1 x input")


#: Anthropic's published list prices in USD per million input/output tokens (platform.claude.com
#: pricing and model pages, read November 2026); cache writes default to 1.25x and cache reads to
#: 0.1x the input price, as published. A model id with a date suffix (claude-haiku-4-5-20251001)
#: is priced by its alias. Models not listed here (or whose price is tiered, like Haiku 5.5) get
#: ``llm.default_price`` and the label ``other``; ``[llm.prices]`` in the config adds or overrides.
BUILTIN_PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": ModelPrice(input=10.0, output=50.0),
    "claude-opus-5-5": ModelPrice(input=4.0, output=20.0),
    "claude-opus-5": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-6": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-5": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-1": ModelPrice(input=15.0, output=75.0),
    "claude-opus-4-0": ModelPrice(input=15.0, output=75.0),
    "claude-opus-4": ModelPrice(input=15.0, output=75.0),
    "claude-sonnet-5-5": ModelPrice(input=2.0, output=10.0),
    "claude-sonnet-5": ModelPrice(input=2.0, output=10.0),
    "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4-0": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4": ModelPrice(input=3.0, output=15.0),
    "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0),
    "claude-3-5-haiku": ModelPrice(input=0.8, output=4.0),
}


class LayerModel(_Section):
    """The model, and optionally the completion cap, that one layer's neurons call."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0, description="default: llm.max_tokens")


def _default_layer_models() -> dict[Layer, LayerModel]:
    # Strategy on the strongest model, implementation on the fastest.
    return {
        Layer.L4: LayerModel(model="claude-opus-5-5"),
        Layer.L3: LayerModel(model="claude-sonnet-5-5"),
        Layer.L2: LayerModel(model="claude-haiku-4-5"),
    }


class BudgetConfig(_Section):
    """Spend limits in US dollars per UTC calendar hour, day and month; None (``inf`` in TOML) means no limit."""

    hour: float | None = Field(default=5.0, ge=0)
    day: float | None = Field(default=50.0, ge=0)
    month: float | None = Field(default=500.0, ge=0)


class LLMConfig(_Section):
    """The LLM service: the real Claude API, the mock, or real with a fallback to the mock."""

    mode: Literal["mock", "real", "auto"] = Field(
        default="auto", description="auto: real when ANTHROPIC_API_KEY is set, else mock"
    )
    max_tokens: int = Field(default=1024, gt=0)
    model: str = Field(default="claude-sonnet-5-5", min_length=1, description="for calls without a layer")
    layers: dict[Layer, LayerModel] = Field(default_factory=_default_layer_models)
    timeout: float = Field(default=60.0, gt=0, description="seconds per attempt (the SDK's timeout)")
    max_retries: int = Field(default=2, ge=0, description="the SDK's retries on 408/409/429/5xx and connection errors")
    max_concurrency: int = Field(default=8, gt=0, description="real API calls in flight at once")
    stream: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="receive answers as a stream of events; auto: when max_tokens is at least stream_min_tokens",
    )
    stream_min_tokens: int = Field(
        # A long completion sent whole can outlast the per-attempt timeout; a stream's timeout
        # applies between events, so it only fires when the API stalls.
        default=4096,
        gt=0,
        description="with stream=auto, calls allowed this many completion tokens or more are streamed",
    )
    fallback_to_mock: bool = Field(default=False, description="answer from the mock when the real API is unavailable")
    breaker_failures: int = Field(default=5, gt=0, description="consecutive failures that open the circuit breaker")
    breaker_cooldown: float = Field(default=30.0, gt=0, description="seconds open before a half-open probe")
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="added to or overriding BUILTIN_PRICES")
    default_price: ModelPrice = Field(
        # Priced like the dearest built-in model (Opus 4/4.1), so a budget errs on the safe side.
        default_factory=lambda: ModelPrice(input=15.0, output=75.0),
        description="for models outside the price table (labelled 'other')",
    )
    budget: BudgetConfig = BudgetConfig()
    mock: MockLLMConfig = MockLLMConfig()

    @property
    def price_table(self) -> dict[str, ModelPrice]:
        """The built-in prices with the configured ones on top."""
        return {**BUILTIN_PRICES, **self.prices}


class MemoryConfig(_Section):
    """The memory service (``hal9.memory:SQLiteMemory``), one SQLite file in ``data_dir``."""

    cache_size: int = Field(default=1024, ge=0, description="entries kept in the retrieve-by-id LRU cache")
    max_content_chars: int = Field(default=100_000, gt=0, description="longer entries are refused")
    batch_size: int = Field(default=256, gt=0, description="most entries one commit writes (group commit)")
    queue_size: int = Field(default=4096, gt=0, description="stores waiting for the writer before senders wait")
    synchronous: Literal["full", "normal"] = Field(
        default="full", description="full: a stored entry survives power loss; normal: only a process crash"
    )
    retention_max_age_seconds: float = Field(
        default=30 * 86400, gt=0, description="entries unused this long are removed if unimportant"
    )
    retention_min_importance: float = Field(default=0.5, ge=0, le=1, description="entries at or above are kept")
    retention_interval_seconds: float = Field(default=600.0, gt=0)
    retention_batch: int = Field(default=1000, gt=0, description="most entries one retention run removes")
    stats_interval_seconds: float = Field(default=5.0, gt=0, description="how often the file sizes are re-read")
    search_candidates: int = Field(
        default=1000, gt=0, description="a search matching more ranks only its most recent this many"
    )


class LoggingConfig(_Section):
    """Structured logs: JSON lines off a terminal, readable console output on one."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


#: The service path of distributed mode, added to the services when ``network.nats_url`` is set.
NETWORK_SERVICE = "hal9.network.service:NatsNetwork"


class NetworkConfig(_Section):
    """Distributed mode: other HAL9 servers over NATS (needs ``pip install 'hal9[distributed]'``)."""

    nats_url: str | None = Field(
        default=None, description="NATS server URL(s), comma-separated; None: distributed mode is off"
    )
    cluster: str = Field(
        default="hal9", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="servers talk only within one cluster"
    )
    token: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = Field(default=None, description="CA file to verify the NATS server (enables TLS)")
    tls_cert: Path | None = Field(default=None, description="client certificate for mutual TLS")
    tls_key: Path | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    heartbeat_interval: float = Field(default=1.0, gt=0, description="a peer missing 3 intervals is gone")
    ack_timeout: float = Field(default=1.0, gt=0, description="how long one delivery attempt waits for the ack")
    delivery_timeout: float = Field(
        default=30.0, gt=0, description="a signal not accepted (or whose server is gone) this long fails"
    )
    resend_interval: float = Field(
        default=5.0, gt=0, description="a delivered signal whose result has not come is re-sent this often"
    )
    max_peers: int = Field(default=64, gt=0, description="servers tracked at most (bounds the latency series)")
    max_in_flight: int = Field(default=10_000, gt=0, description="signals sent and awaiting their result, at most")
    send_concurrency: int = Field(
        default=16, gt=0, le=1024, description="signals to one remote neuron awaiting their ack at once"
    )

    @property
    def urls(self) -> list[str]:
        return [url.strip() for url in (self.nats_url or "").split(",") if url.strip()]


class AuthConfig(_Section):
    """Authentication of the HTTP API (``hal9.auth``): users, JWT, API keys. On by default.

    ``enabled = false`` is accepted only by a server bound to a loopback address.
    """

    enabled: bool = True
    secret_key: SecretStr | None = Field(
        default=None, min_length=32, description="JWT signing key; default: generated once into secret_key_file"
    )
    secret_key_file: Path | None = Field(default=None, description="default: data_dir/auth-signing.key (mode 0600)")
    algorithm: Literal["HS256", "HS384", "HS512"] = Field(default="HS256", description="the only one accepted")
    issuer: str = Field(default="hal9", min_length=1)
    audience: str = Field(default="hal9-api", min_length=1)
    access_token_seconds: int = Field(default=15 * 60, gt=0, le=86400)
    refresh_token_seconds: int = Field(default=7 * 86400, gt=0)
    metrics_token: SecretStr | None = Field(
        default=None, min_length=16, description="when set, GET /metrics needs 'Authorization: Bearer <token>'"
    )
    login_max_failures_per_user: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    login_window_seconds: float = Field(default=300.0, gt=0, description="failures older than this are forgotten")
    login_tracked_max: int = Field(default=10_000, gt=0, description="usernames and addresses the limiter remembers")
    password_min_length: int = Field(default=12, ge=8, le=1024)
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id iterations")
    password_hash_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory per hash")
    password_hash_parallelism: int = Field(default=4, ge=1)
    bootstrap_admin_key: bool = Field(default=True, description="first start with no users or keys: print an admin key")


class LearningConfig(_Section):
    """The learning service (``hal9.learning:LearningService``): feedback into prompt lessons."""

    decay: float = Field(default=0.5, gt=0, le=1, description="share of an error passed back per hop upstream")
    smoothing: float = Field(
        default=0.5, gt=0, le=1, description="weight of a new error in a neuron's gradient (1: only the latest)"
    )
    threshold: float = Field(default=0.5, gt=0, le=1, description="a gradient at or above it adjusts the prompt")
    success_score: float = Field(default=0.5, ge=0, le=1, description="feedback at or above it is a success")
    window: int = Field(default=50, ge=1, le=10_000, description="outcomes per neuron in its effectiveness")
    evaluation_outcomes: int = Field(default=5, ge=1, le=1000, description="outcomes that judge an adjustment")
    pattern_threshold: int = Field(default=3, ge=1, description="occurrences of a pattern type that identify it")
    max_lessons: int = Field(default=5, ge=1, le=50, description="lessons a prompt carries at most")
    max_lesson_chars: int = Field(default=300, ge=20, le=4_000, description="one lesson's length at most")
    max_prompt_chars: int = Field(default=1_200, ge=100, le=20_000, description="all lessons of a prompt at most")
    history: int = Field(default=20, ge=1, le=1_000, description="lessons (any status) kept per neuron")
    write_with_llm: bool = Field(default=True, description="the neuron's LLM writes lessons (else a rule does)")


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


class LayerTools(_Section):
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


class ExternalToolServer(_Section):
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


class ToolsConfig(_Section):
    """The tool service (``hal9.tools:ToolService``): the built-in MCP tools, external servers, the sandbox."""

    root: Path | None = Field(default=None, description="the sandbox folder; default data_dir/workspace")
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
        description="confine commands with Landlock: where the kernel has it (auto), always (required), never",
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
    def _known_tools(self) -> ToolsConfig:
        known = {*BUILTIN_TOOLS, *self.servers}
        for where, policy in [*((f"layers.{k}", v) for k, v in self.layers.items()), ("mcp", self.mcp)]:
            unknown = [name for name in policy.tools if name not in known]
            if unknown:
                raise ValueError(f"{where}.tools: unknown {unknown} (built-in tools or names in tools.servers)")
        return self


def _default_server_id() -> str:
    return socket.gethostname() or "hal9"


def default_neurons() -> tuple[NeuronConfig, ...]:
    """The built-in three-layer network: one neuron per layer; L4 fans out into 2-3 directives."""
    return (
        NeuronConfig(id="strategic", layer=Layer.L4, kind="strategic", downstream=("design",)),
        NeuronConfig(id="design", layer=Layer.L3, kind="design", downstream=("implementation",)),
        NeuronConfig(id="implementation", layer=Layer.L2, kind="implementation"),
    )


class Config(_Section):
    """Everything a runtime needs; every field has a working default."""

    server_id: str = Field(default_factory=_default_server_id, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    data_dir: Path = Path("hal9-data")
    server: ServerConfig = ServerConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    neurons: tuple[NeuronConfig, ...] = Field(default_factory=default_neurons)
    services: dict[str, str] = Field(
        default_factory=lambda: {
            "llm": "hal9.llm:LLMService",
            "memory": "hal9.memory:SQLiteMemory",
            "tools": "hal9.tools:ToolService",
            "learning": "hal9.learning:LearningService",
        },
        description="service name -> 'package.module:Class' of a Service with from_config()",
    )
    llm: LLMConfig = LLMConfig()
    memory: MemoryConfig = MemoryConfig()
    logging: LoggingConfig = LoggingConfig()
    network: NetworkConfig = NetworkConfig()
    auth: AuthConfig = AuthConfig()
    learning: LearningConfig = LearningConfig()
    tools: ToolsConfig = ToolsConfig()

    @property
    def service_paths(self) -> dict[str, str]:
        """The services to build: ``services``, plus the network when ``network.nats_url`` is set."""
        if self.network.nats_url and "network" not in self.services:
            return {**self.services, "network": NETWORK_SERVICE}
        return dict(self.services)

    @field_validator("neurons")
    @classmethod
    def _unique_ids(cls, neurons: tuple[NeuronConfig, ...]) -> tuple[NeuronConfig, ...]:
        seen: set[str] = set()
        for neuron in neurons:
            if neuron.id in seen:
                raise ValueError(f"duplicate neuron id {neuron.id!r}")
            seen.add(neuron.id)
        return neurons

    @model_validator(mode="after")
    def _known_downstream(self) -> Config:
        ids = {n.id for n in self.neurons}
        for index, neuron in enumerate(self.neurons):
            for target in neuron.downstream:
                if target not in ids:
                    raise ValueError(f"neurons.{index}.downstream: unknown neuron id {target!r}")
            if neuron.server not in (None, self.server_id) and not self.network.nats_url:
                raise ValueError(
                    f"neurons.{index}.server: {neuron.server!r} is another server, but network.nats_url is not set"
                )
        return self


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
    return f"invalid configuration ({origin}):\n  " + "\n  ".join(lines)


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``HAL9_SECTION__KEY=value`` variables into a nested mapping.

    Values stay strings; pydantic converts them (``"8081"`` to an int, ``"false"`` to a bool).
    """
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_NESTING)]
        if not all(path):
            raise ConfigError(f"malformed environment override {name}")
        node = overrides
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment override {name} conflicts with another override")
            node = child
        # The reverse of the check above: a value must not replace a section another override
        # set keys in, or that override would vanish silently depending on variable order.
        if isinstance(node.get(path[-1]), dict):
            raise ConfigError(f"environment override {name} conflicts with another override")
        node[path[-1]] = value
    return overrides


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read a TOML file (optional), apply environment overrides and validate.

    Args:
        path: a TOML file; None means defaults only.
        environ: the environment to read ``HAL9_*`` overrides from; defaults to ``os.environ``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown or invalid.
    """
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    overrides = env_overrides(os.environ if environ is None else environ)
    if overrides:
        origin += " + HAL9_* environment"
        data = _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
