"""``python -m hal9 serve``: the runtime and its HTTP server until SIGTERM or SIGINT.

What the server trusts and keeps is decided here, before anything is served:

- The process runs with umask 077 (as PostgreSQL's server does), and ``data_dir`` must be
  private (:func:`~hal9.support.private_files.check_data_dir`): whatever the server creates
  there, the database, its WAL files, the signing key, is its user's alone (the tools' workspace too).
- uvicorn believes ``X-Forwarded-For``/``-Proto`` only from ``server.forwarded_allow_ips``
  (none by default; uvicorn's own default trusts 127.0.0.1, which let any local client pick
  the address the login limiter counts).
- uvicorn's access log is off (the HTTP metrics count requests), and its other lines go
  through :func:`~hal9.logging.configure_logging`, which scrubs credentials from every line.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING

import anyio
import structlog

from hal9.config import Config, load_config
from hal9.errors import ConfigError
from hal9.logging import configure_logging
from hal9.support.private_files import check_data_dir

if TYPE_CHECKING:
    pass

#: Files and folders the server creates are readable and writable by its user only.
PRIVATE_UMASK = 0o077

log = structlog.get_logger("hal9.cli")


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

    try:
        sock = _bind(config.server.host, config.server.port)
    except OSError as exc:
        log.error("server.bind_failed", host=config.server.host, port=config.server.port, error=str(exc))
        return 1
    with sock:
        async with Runtime(config, services=auth_services(config)) as runtime:
            auth = runtime.services.get(AuthService)
            if auth is not None:
                _print_bootstrap_key(await auth.bootstrap())
            app = create_app(runtime)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_config=None,
                    access_log=False,
                    # Only the configured proxies may say who the client is (uvicorn trusts 127.0.0.1
                    # by default, or $FORWARDED_ALLOW_IPS): the login limiter counts that address.
                    proxy_headers=bool(config.server.forwarded_allow_ips),
                    forwarded_allow_ips=list(config.server.forwarded_allow_ips),
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


def load(path: str | None, host: str | None = None, port: int | None = None) -> Config:
    config = load_config(path)
    if not config.neurons:
        # Valid for a Runtime built in code (neurons added later), useless for a server.
        raise ConfigError("neurons: the network has no neurons; a server needs at least one")
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        config = config.model_copy(update={"server": config.server.model_copy(update=updates)})
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    config = load(args.config, args.host, args.port).with_data_dir()
    if not config.auth.enabled and not is_loopback(config.server.host):
        print(
            f"error: refusing to serve on {config.server.host} with authentication disabled "
            "([auth] enabled = false or HAL9_AUTH__ENABLED=false): anyone who can reach that address "
            "could use the API. Enable auth, or bind to a loopback address such as 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    # Before any thread or file exists: every file the server makes is private (docstring above).
    os.umask(PRIVATE_UMASK)
    assert config.data_dir is not None  # with_data_dir() gave it one
    check_data_dir(config.data_dir)  # ConfigError: refused, and main() prints why
    configure_logging(config.logging.level, config.logging.format)
    stop = _StopRequest()
    stop.install()
    return anyio.run(serve, config, stop)
