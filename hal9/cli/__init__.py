"""``python -m hal9`` / ``hal9``: serve, init, check, users, keys, mcp, monitoring export."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from hal9.cli.accounts import cmd_keys, cmd_users
from hal9.cli.example import EXAMPLE_CONFIG
from hal9.cli.memory import cmd_memory
from hal9.cli.serve import cmd_serve, is_loopback, load, refuse_unsafe
from hal9.config import load_config
from hal9.errors import Hal9Error
from hal9.logging import configure_logging
from hal9.monitoring.export import DEFAULT_PROMETHEUS_URL

__all__ = ["EXAMPLE_CONFIG", "is_loopback", "main"]


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

    config = load(args.path)  # with a data folder, as serve runs it
    refuse_unsafe(config)  # what serve refuses, check refuses
    # Building (not starting) the runtime resolves neuron kinds, services and connections.
    runtime = Runtime(config)
    services = ", ".join(sorted(runtime.services)) or "none"
    print(f"{args.path}: ok ({len(runtime.neurons)} neurons, services: {services})")
    return 0


def _cmd_mcp(args: argparse.Namespace) -> int:
    from hal9.tools.stdio import serve_stdio

    # Not load(): without a data_dir of its own, `hal9 mcp` keeps its data outside the folder it serves.
    config = load_config(args.config)
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
    parser = argparse.ArgumentParser(
        prog="hal9",
        description="HAL9: a runtime for hierarchical networks of AI neurons",
        epilog=(
            "Everything a server keeps (hal9.db: memory, users, API keys, LLM spend) is in its data folder, "
            "data_dir of the config: ./hal9-data by default, relative to the folder the command runs in. "
            "Give the same --config (or --data-dir, or HAL9_DATA_DIR) to serve, users and keys."
        ),
    )
    data_dir_help = "the data folder (overrides data_dir of the config and HAL9_DATA_DIR; default ./hal9-data)"
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the runtime and its HTTP server")
    serve_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    serve_cmd.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to bind (default 8080; 0 picks a free one)")
    serve_cmd.add_argument("--data-dir", help=data_dir_help)
    serve_cmd.set_defaults(handler=cmd_serve)

    init_cmd = commands.add_parser("init", help="write a commented example configuration")
    init_cmd.add_argument("path", nargs="?", default="hal9.toml")
    init_cmd.add_argument("--force", action="store_true", help="overwrite an existing file")
    init_cmd.set_defaults(handler=_cmd_init)

    check_cmd = commands.add_parser(
        "check", help="validate a configuration file, refusing what serve would refuse (auth off beyond loopback)"
    )
    check_cmd.add_argument("path")
    check_cmd.set_defaults(handler=_cmd_check)

    roles = ("admin", "operator", "viewer")
    users_cmd = commands.add_parser("users", help="manage the users of the API (in data_dir/hal9.db)")
    users_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    users_cmd.add_argument("--data-dir", help=data_dir_help)
    users_commands = users_cmd.add_subparsers(dest="users_command", required=True)
    length_rule = (
        "a password has at least auth.password_min_length characters (default 12; the config may raise it, "
        "8 at the least) and at most 1024"
    )
    create_user = users_commands.add_parser(
        "create", help=f"add a user (asks for the password; {length_rule})", description=length_rule
    )
    create_user.add_argument("username")
    create_user.add_argument("--role", choices=roles, default="viewer")
    create_user.add_argument(
        "--password-stdin", action="store_true", help=f"read the password from standard input ({length_rule})"
    )
    users_commands.add_parser("list", help="list the users")
    for verb in ("disable", "enable"):
        users_commands.add_parser(verb, help=f"{verb} a user").add_argument("username")
    users_cmd.set_defaults(handler=cmd_users)

    keys_cmd = commands.add_parser("keys", help="manage API keys (in data_dir/hal9.db)")
    keys_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    keys_cmd.add_argument("--data-dir", help=data_dir_help)
    keys_commands = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create_key = keys_commands.add_parser("create", help="make an API key and print it (once)")
    create_key.add_argument("--name", required=True)
    create_key.add_argument("--role", choices=roles, default="viewer")
    create_key.add_argument("--expires-days", type=float, help="lifetime in days (default: no expiry)")
    keys_commands.add_parser("list", help="list the API keys (never their secrets)")
    keys_commands.add_parser("revoke", help="revoke an API key by its id").add_argument("key_id")
    keys_cmd.set_defaults(handler=cmd_keys)

    memory_cmd = commands.add_parser("memory", help="look after the memory database (in data_dir/hal9.db)")
    memory_cmd.add_argument("--config", help="a TOML file (default: built-in defaults)")
    memory_cmd.add_argument("--data-dir", help=data_dir_help)
    memory_commands = memory_cmd.add_subparsers(dest="memory_command", required=True)
    memory_commands.add_parser("reindex", help="rebuild the search index from the stored entries (server stopped)")
    memory_cmd.set_defaults(handler=cmd_memory)

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
        sys.stdout.flush()  # inside the try: a closed pipe is noticed here, not at exit
    except Hal9Error as exc:  # ConfigError and TopologyError name the bad key or id
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of standard output went away (`hal9 users list | head -1`): not an error to
        # report with a traceback. Python's own advice: point stdout at devnull, so the flush at
        # exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status
