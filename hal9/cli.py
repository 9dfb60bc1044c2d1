"""``python -m hal9`` / ``hal9``: serve, init, check, users, keys, mcp, monitoring export."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import anyio
import structlog

from hal9.config import Config, load_config
from hal9.errors import ConfigError, Hal9Error
from hal9.logging import configure_logging
from hal9.monitoring.export import DEFAULT_PROMETHEUS_URL

if TYPE_CHECKING:
    from hal9.auth import AuthService

log = structlog.get_logger("hal9.cli")

EXAMPLE_CONFIG = """\
# HAL9 configuration. Every key is optional; the values shown are the defaults.
# Any key can be overridden by an environment variable HAL9_SECTION__KEY,
# for example HAL9_SERVER__PORT=9000 or HAL9_RUNTIME__MAILBOX_CAPACITY=128.

# Identifies this server in metrics (label server_id); defaults to the host name.
# server_id = "hal9-1"

# Everything the runtime keeps on disk lives in this folder.
data_dir = "hal9-data"

# Services by name, each "package.module:Class". The defaults: the LLM (mock, or Claude when
# ANTHROPIC_API_KEY is set; see [llm]), the memory service (one SQLite file,
# data_dir/hal9.db; neurons store each task and result and recall the relevant ones), the
# MCP tools (see [tools]; no layer gets a tool unless granted) and the learning service
# (feedback and failed branches become lessons in the neurons' prompts). Leave one out to
# run without it:
# services = { llm = "hal9.llm:LLMService", memory = "hal9.memory:SQLiteMemory",
#              tools = "hal9.tools:ToolService", learning = "hal9.learning:LearningService" }

[server]
host = "127.0.0.1"
port = 8080
request_timeout = 30.0        # POST /api/v1/signals with wait=true answers 504 after this
max_content_chars = 100000    # larger requests get 413
websocket_buffer = 256        # events queued per /ws client before that client is dropped
retry_after_seconds = 1       # Retry-After of a 503 when the entry mailbox is full

[runtime]
mailbox_capacity = 64         # signals queued per neuron
send_timeout = 5.0            # a sender waits this long on a full mailbox, then MailboxFull
drain_timeout = 10.0          # on shutdown, in-flight requests get this long to finish
restart_backoff_initial = 0.05
restart_backoff_max = 5.0
max_traces = 10000            # finished requests kept for GET /api/v1/signals/{id}
max_path_hops = 1000          # hops recorded per request

[llm]
mode = "auto"                 # auto: real when ANTHROPIC_API_KEY is set, else the mock; or "mock", "real"
max_tokens = 1024             # completion cap, unless a layer sets its own
model = "claude-sonnet-5-5"   # for calls that name no layer
timeout = 60.0                # seconds per attempt (the anthropic SDK's timeout); ANTHROPIC_BASE_URL is honoured
max_retries = 2               # the SDK's retries on 408, 409, 429, 5xx and connection errors
max_concurrency = 8           # real API calls in flight at once
fallback_to_mock = false      # answer from the mock while the real API is unavailable
breaker_failures = 5          # consecutive failures that open the circuit breaker (calls then fail fast)
breaker_cooldown = 30.0       # seconds open before one probe call is let through

[llm.layers.L4]
model = "claude-opus-5-5"
[llm.layers.L3]
model = "claude-sonnet-5-5"
[llm.layers.L2]
model = "claude-haiku-4-5"    # a layer may also set max_tokens

[llm.budget]                  # US dollars per UTC calendar hour, day and month; spend is kept in data_dir/hal9.db
hour = 5.0
day = 50.0
month = 500.0

# Prices in US dollars per million tokens are built in for current Claude models; add or override:
# [llm.prices.claude-example-1]
# input = 3.0
# output = 15.0
[llm.default_price]           # for models outside the price table (labelled "other" in metrics)
input = 15.0
output = 75.0

[llm.mock]
model = "mock-claude"
latency_seconds = 0.0
# Scripted replies: the first rule whose layer and trigger match answers the call.
# [[llm.mock.replies]]
# layer = "L4"
# trigger = "weather"
# reply = '{"directives": ["Find the forecast", "Summarise it"]}'

[memory]                      # settings of the memory service
cache_size = 1024             # entries kept in the retrieve-by-id LRU cache
max_content_chars = 100000    # longer entries are refused (413 from the API)
batch_size = 256              # most entries one commit writes (concurrent stores share commits)
queue_size = 4096             # stores waiting for the writer before senders wait
synchronous = "full"          # full: a stored entry survives power loss; normal: a process crash
retention_max_age_seconds = 2592000.0  # 30 days unused ...
retention_min_importance = 0.5         # ... and less important than this: removed
retention_interval_seconds = 600.0
retention_batch = 1000        # most entries one retention run removes
stats_interval_seconds = 5.0  # how often the database size is re-read for /metrics
search_candidates = 1000      # a search matching more entries ranks only the most recent this many

[logging]
level = "info"                # debug, info, warning, error
format = "auto"               # auto (console on a terminal, JSON otherwise), json, console

[auth]                        # every /api/v1 route and /ws need a JWT or an API key
enabled = true                # false is accepted only when [server] host is a loopback address
# secret_key = "..."          # JWT signing key (32+ characters; or HAL9_AUTH__SECRET_KEY); default:
                              # generated once into data_dir/auth-signing.key (mode 0600)
algorithm = "HS256"           # the only algorithm accepted: HS256, HS384 or HS512
access_token_seconds = 900    # 15 minutes
refresh_token_seconds = 604800  # 7 days; a refresh token works once, reuse revokes its session
# metrics_token = "..."       # when set, GET /metrics needs "Authorization: Bearer <metrics_token>"
login_max_failures_per_user = 5      # failed logins within the window before 429 + Retry-After
login_max_failures_per_address = 20
login_window_seconds = 300.0
password_min_length = 12
bootstrap_admin_key = true    # first start without users or keys: print an admin API key once (stderr)
[learning]                    # feedback -> error gradients along the signal path -> prompt lessons
decay = 0.5                   # share of an error passed back per hop upstream
smoothing = 0.5               # weight of a new error in a neuron's gradient (1: only the latest counts)
threshold = 0.5               # a gradient at or above it adjusts the neuron's prompt (adds a lesson)
success_score = 0.5           # feedback scores at or above it are successes
window = 50                   # outcomes per neuron in its effectiveness (a sliding window)
evaluation_outcomes = 5       # outcomes after an adjustment that judge it (kept or rolled back)
pattern_threshold = 3         # occurrences of a pattern type (timeout, budget, ...) that identify it
max_lessons = 5               # lessons a prompt carries at most ...
max_lesson_chars = 300        # ... each at most this long ...
max_prompt_chars = 1200       # ... and all of them together
history = 20                  # lessons (any status) kept per neuron for GET /api/v1/neurons/{id}/learning
write_with_llm = true         # the neuron's LLM writes lessons (through the budget); false: a rule does
[tools]                       # MCP tools: built-in file_read, file_write, shell, web_fetch, and external servers
# root = "hal9-data/workspace"  # the sandbox folder (default: data_dir/workspace)
max_rounds = 4                # tool_use rounds per neuron answer
call_timeout = 60.0           # seconds per tool call, end to end
max_result_chars = 20000      # tool output sent back to the model
max_read_bytes = 1000000
max_write_bytes = 1000000
shell_timeout = 10.0          # the command's whole process group is killed after this
shell_max_output_bytes = 65536
shell_landlock = "auto"       # confine commands with Landlock where the kernel has it; "required", "off"
web_timeout = 10.0
web_max_bytes = 1000000
web_max_redirects = 5
web_allowed_networks = []     # CIDRs web_fetch may reach although not public, e.g. "10.0.0.0/8"
# No layer gets a tool until it is granted here (tools: built-in names or names of [tools.servers]):
# [tools.layers.L2]
# tools = ["file_read", "file_write", "shell", "web_fetch"]
# commands = ["ls", "cat", "grep", "wc"]   # the shell allow list (bare names)
# hosts = []                               # web_fetch hosts; empty: any public host
# [tools.servers.time]                     # an external MCP server (stdio command or url)
# command = ["uvx", "mcp-server-time"]
# What `python -m hal9 mcp` serves (its root: tools.mcp.root, else the folder it starts in):
[tools.mcp]
tools = ["file_read", "file_write", "shell", "web_fetch"]
commands = ["ls", "cat", "head", "tail", "wc", "grep", "pwd", "echo", "date"]

# Distributed mode (pip install 'hal9[distributed]'): on when nats_url is set; a neuron's
# server = "<server_id>" then places it on another server (see examples/distributed/).
# [network]
# nats_url = "nats://127.0.0.1:4222"   # comma-separated for several; HAL9_NETWORK__NATS_URL overrides
# cluster = "hal9"                     # servers talk only within one cluster
# token = "..."                        # or user = "..." and password = "..."; TLS: tls_ca, tls_cert, tls_key
# heartbeat_interval = 1.0             # a peer missing three heartbeats is gone
# delivery_timeout = 30.0              # a signal not accepted, or whose server is gone, this long fails
# ack_timeout = 1.0                    # one delivery attempt waits this long for the acknowledgement
# resend_interval = 5.0                # an accepted signal whose result has not come is re-sent this often
# send_concurrency = 16                # signals to one remote neuron awaiting their ack at once
# max_peers = 64
# max_in_flight = 10000

# The network: one [[neurons]] table per neuron. kind is a built-in kind
# (strategic, design, implementation) or "package.module:Class" of your own Neuron.
[[neurons]]
id = "strategic"
layer = "L4"
kind = "strategic"
downstream = ["design"]

[[neurons]]
id = "design"
layer = "L3"
kind = "design"
downstream = ["implementation"]

[[neurons]]
id = "implementation"
layer = "L2"
kind = "implementation"
"""


class _StopRequest:
    """Remembers SIGTERM/SIGINT that arrive outside uvicorn's own handling.

    uvicorn handles both signals while it serves, then re-raises them once it has shut
    down. With these handlers installed that re-raise lands here instead of killing the
    process, so the runtime still drains and the process exits 0.
    """

    def __init__(self) -> None:
        self.requested = False
        self.server: object | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True  # type: ignore[attr-defined]

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol must be given: asyncio sets TCP_NODELAY only on sockets whose proto is
    # IPPROTO_TCP, and without it every keep-alive response after the first waits ~40 ms
    # for the client's delayed ACK (Nagle's algorithm holds back the body after the headers).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(config: Config, stop: _StopRequest) -> int:
    """Run the runtime and the HTTP server until SIGTERM or Ctrl-C, then drain."""
    import uvicorn

    from hal9.auth import AuthService, auth_services
    from hal9.runtime.runtime import Runtime
    from hal9.server import create_app

    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        sock = _bind(config.server.host, config.server.port)
    except OSError as exc:
        log.error("server.bind_failed", host=config.server.host, port=config.server.port, error=str(exc))
        return 1
    with sock:
        async with Runtime(config, services=auth_services(config)) as runtime:
            auth = runtime.services.get("auth")
            if isinstance(auth, AuthService):
                _print_bootstrap_key(await auth.bootstrap())
            app = create_app(runtime)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    timeout_graceful_shutdown=int(config.runtime.drain_timeout) or 1,
                )
            )
            stop.server = server
            server.should_exit = stop.requested
            host, port = sock.getsockname()[:2]
            log.info("server.listening", host=host, port=port, url=f"http://{host}:{port}", server_id=config.server_id)
            await server.serve(sockets=[sock])
            log.info("server.draining", active_requests=runtime.active_requests)
    log.info("server.stopped")
    return 0


def _print_bootstrap_key(created: object) -> None:
    """Show the first admin key once, on standard error: the JSON logs on standard output stay secret-free."""
    from hal9.auth import CreatedKey

    if not isinstance(created, CreatedKey):
        return
    print(
        "\nNo users or API keys exist yet: created an admin API key. It is shown this once; keep it safe.\n"
        f"  {created.token}\n"
        "Use it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; create users with POST /api/v1/auth/users\n"
        f"or 'python -m hal9 users create', and revoke this key with 'python -m hal9 keys revoke {created.key.id}'.\n",
        file=sys.stderr,
        flush=True,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): only there may auth be off."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _load(path: str | None, host: str | None = None, port: int | None = None) -> Config:
    config = load_config(path)
    if not config.neurons:
        # Valid for a Runtime built in code (neurons added later), useless for a server.
        raise ConfigError("neurons: the network has no neurons; a server needs at least one")
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        config = config.model_copy(update={"server": config.server.model_copy(update=updates)})
    return config


def _cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config, args.host, args.port)
    if not config.auth.enabled and not is_loopback(config.server.host):
        print(
            f"error: refusing to serve on {config.server.host} with authentication disabled "
            "([auth] enabled = false or HAL9_AUTH__ENABLED=false): anyone who can reach that address "
            "could use the API. Enable auth, or bind to a loopback address such as 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    configure_logging(config.logging.level, config.logging.format)
    stop = _StopRequest()
    stop.install()
    return anyio.run(serve, config, stop)


def _cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite", file=sys.stderr)
        return 1
    try:
        path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    except OSError as exc:  # a missing folder or no permission is the user's to fix, not a traceback
        print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from hal9.runtime.runtime import Runtime

    config = _load(args.path)
    # Building (not starting) the runtime resolves neuron kinds, services and connections.
    runtime = Runtime(config)
    services = ", ".join(sorted(runtime.services)) or "none"
    print(f"{args.path}: ok ({len(runtime.neurons)} neurons, services: {services})")
    return 0


def _with_auth(args: argparse.Namespace, work: Callable[[AuthService], Awaitable[int]]) -> int:
    """Run ``work`` with the auth service of the configuration's data_dir, started on its own."""
    from hal9.auth import AuthService

    config = load_config(args.config)
    # Logs to standard error: standard output carries the command's answer (a key can be piped on).
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    service = AuthService.from_config(config)

    async def run() -> int:
        async with service:
            return await work(service)

    return anyio.run(run)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for the password: pass --password-stdin and pipe it in")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ConfigError("the passwords differ")
    return password


def _cmd_users(args: argparse.Namespace) -> int:
    from hal9.auth import Role

    async def work(auth: AuthService) -> int:
        if args.users_command == "create":
            user = await auth.create_user(args.username, _read_password(args.password_stdin), Role(args.role))
            print(f"created user {user.username} (id {user.id}, role {user.role.value})")
        elif args.users_command in ("disable", "enable"):
            user = await auth.set_user_active(args.username, args.users_command == "enable")
            print(f"user {user.username} is {'active' if user.active else 'disabled'}")
        else:
            for user in await auth.users():
                print(f"{user.id}\t{user.username}\t{user.role.value}\t{'active' if user.active else 'disabled'}")
        return 0

    return _with_auth(args, work)


def _cmd_keys(args: argparse.Namespace) -> int:
    from hal9.auth import Role

    async def work(auth: AuthService) -> int:
        if args.keys_command == "create":
            expires_in = args.expires_days * 86400 if args.expires_days is not None else None
            created = await auth.create_key(args.name, Role(args.role), expires_in)
            print(f"created API key {created.key.id} ({created.key.name}, role {created.key.role.value});")
            print("it is shown this once, only its hash is kept:")
            print(created.token)
        elif args.keys_command == "revoke":
            key = await auth.revoke_key(args.key_id)
            print(f"revoked API key {key.id} ({key.name})")
        else:
            for key in await auth.keys():
                status = "revoked" if key.revoked_at is not None else "active" if key.active(time.time()) else "expired"
                print(f"{key.id}\t{key.name}\t{key.role.value}\t{status}")
        return 0

    return _with_auth(args, work)


def _cmd_mcp(args: argparse.Namespace) -> int:
    from hal9.tools.stdio import serve_stdio

    config = _load(args.config)
    # Standard output carries the MCP messages: every log line goes to standard error.
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    root = config.tools.mcp.root if config.tools.mcp.root is not None else Path.cwd()
    return anyio.run(serve_stdio, config, root)


def _cmd_monitoring_export(args: argparse.Namespace) -> int:
    from hal9.monitoring.export import ExportConflict, export

    dest = Path(args.dir)
    try:
        written = export(
            dest, force=args.force, prometheus_url=args.prometheus_url, dashboards_path=args.grafana_dashboards_path
        )
    except ExportConflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write to {dest}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files to {dest}")
    print(f"  prometheus --config.file={dest / 'prometheus' / 'prometheus.yml'}")
    print(f"  grafana: paths.provisioning = {dest / 'grafana' / 'provisioning'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hal9", description="HAL9: a runtime for hierarchical networks of AI neurons")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the runtime and its HTTP server")
    serve_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    serve_cmd.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to bind (default 8080; 0 picks a free one)")
    serve_cmd.set_defaults(handler=_cmd_serve)

    init_cmd = commands.add_parser("init", help="write a commented example configuration")
    init_cmd.add_argument("path", nargs="?", default="hal9.toml")
    init_cmd.add_argument("--force", action="store_true", help="overwrite an existing file")
    init_cmd.set_defaults(handler=_cmd_init)

    check_cmd = commands.add_parser("check", help="validate a configuration file")
    check_cmd.add_argument("path")
    check_cmd.set_defaults(handler=_cmd_check)

    roles = ("admin", "operator", "viewer")
    users_cmd = commands.add_parser("users", help="manage the users of the API (in data_dir/hal9.db)")
    users_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    users_commands = users_cmd.add_subparsers(dest="users_command", required=True)
    create_user = users_commands.add_parser("create", help="add a user (asks for the password)")
    create_user.add_argument("username")
    create_user.add_argument("--role", choices=roles, default="viewer")
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users_commands.add_parser("list", help="list the users")
    for verb in ("disable", "enable"):
        users_commands.add_parser(verb, help=f"{verb} a user").add_argument("username")
    users_cmd.set_defaults(handler=_cmd_users)

    keys_cmd = commands.add_parser("keys", help="manage API keys (in data_dir/hal9.db)")
    keys_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    keys_commands = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create_key = keys_commands.add_parser("create", help="make an API key and print it (once)")
    create_key.add_argument("--name", required=True)
    create_key.add_argument("--role", choices=roles, default="viewer")
    create_key.add_argument("--expires-days", type=float, help="lifetime in days (default: no expiry)")
    keys_commands.add_parser("list", help="list the API keys (never their secrets)")
    keys_commands.add_parser("revoke", help="revoke an API key by its id").add_argument("key_id")
    keys_cmd.set_defaults(handler=_cmd_keys)

    mcp_cmd = commands.add_parser(
        "mcp", help="serve the built-in tools and the neuron network (tool 'ask') to an MCP client over stdio"
    )
    mcp_cmd.add_argument("--config", help="a TOML file; the sandbox root is tools.mcp.root, else the current folder")
    mcp_cmd.set_defaults(handler=_cmd_mcp)

    monitoring_cmd = commands.add_parser("monitoring", help="Prometheus and Grafana assets")
    monitoring_commands = monitoring_cmd.add_subparsers(dest="monitoring_command", required=True)
    export_cmd = monitoring_commands.add_parser(
        "export", help="write prometheus.yml, alert and recording rules, Grafana provisioning and dashboards"
    )
    export_cmd.add_argument("dir", help="folder to write prometheus/ and grafana/ into")
    export_cmd.add_argument("--force", action="store_true", help="overwrite existing files")
    export_cmd.add_argument(
        "--prometheus-url",
        default=DEFAULT_PROMETHEUS_URL,
        help=f"URL Grafana's datasource reaches Prometheus at (default {DEFAULT_PROMETHEUS_URL})",
    )
    export_cmd.add_argument(
        "--grafana-dashboards-path",
        help="where Grafana sees DIR/grafana/dashboards, e.g. a container mount point (default: its absolute path)",
    )
    export_cmd.set_defaults(handler=_cmd_monitoring_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hal9`` and ``python -m hal9``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except Hal9Error as exc:  # ConfigError and TopologyError name the bad key or id
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status
