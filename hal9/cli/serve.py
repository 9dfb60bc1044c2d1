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

What the user is told: before listening, a summary of what runs (:mod:`hal9.cli.summary`);
a port that cannot be bound, on standard error with what to do. The first SIGTERM or SIGINT
drains; a second one quits at once (:class:`_StopRequest`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from hal9.cli.allocator import limit_malloc_arenas
from hal9.cli.summary import render_summary, startup_summary
from hal9.config import Config, load_config
from hal9.errors import ConfigError
from hal9.logging import configure_logging
from hal9.support.private_files import check_data_dir

if TYPE_CHECKING:
    from hal9.runtime.runtime import Runtime

#: Files and folders the server creates are readable and writable by its user only.
PRIVATE_UMASK = 0o077

log = structlog.get_logger("hal9.cli")


class _StopRequest:
    """SIGTERM and SIGINT, for the whole life of ``serve``: the first drains, the second quits at once.

    These handlers stay installed while uvicorn serves (:class:`_Server` leaves signals to
    them), so every signal is counted here. The first asks uvicorn to stop serving; the
    runtime then drains (``runtime.drain_timeout``) and the process exits 0. A second one,
    while that shutdown runs, fails the requests still in flight as a drain timeout fails them
    (:meth:`~hal9.runtime.runtime.Runtime.abort`: their callers get 503 with the failed
    result) and the process exits 128 + the signal's number, as a shell reports a killed command.
    """

    def __init__(self) -> None:
        self.requested = False
        self.forced: int | None = None
        self.server: object | None = None
        #: What the second signal runs on the event loop (set once the runtime is up).
        self.on_force: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self.forced is None:
            self.forced = signum
            loop, on_force = self._loop, self.on_force
            if loop is not None and on_force is not None:
                # A signal handler runs between any two bytecodes: the work is done on the loop.
                with contextlib.suppress(RuntimeError):  # the loop has closed: nothing is left to stop
                    loop.call_soon_threadsafe(on_force)
            return
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True  # type: ignore[attr-defined]

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)

    def bind_loop(self) -> None:
        """Remember the running event loop, for the second signal's work."""
        self._loop = asyncio.get_running_loop()


def _server_class() -> type[Any]:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn's server, leaving SIGTERM and SIGINT to :class:`_StopRequest` (it counts them all)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return _Server


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


def _bind_error(host: str, port: int, exc: OSError) -> str:
    """What ``serve`` prints when it cannot listen: the reason, and what to do about it."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"error: cannot listen on {where}: the port is in use (another hal9 serve?). "
            "Pick another with --port N (--port 0 picks a free one) or [server] port in the config."
        )
    if exc.errno == errno.EACCES:
        return f"error: cannot listen on {where}: permission denied (ports below 1024 need privileges); try --port 8080"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"error: cannot listen on {where}: no interface of this machine has that address; check --host."
    return f"error: cannot listen on {where}: {exc.strerror or exc}; check --host and --port."


def _console(config: Config) -> bool:
    """Whether the logs are for a person (the console format) rather than JSON lines."""
    fmt = config.logging.format
    return fmt == "console" or (fmt == "auto" and sys.stdout.isatty())


def _announce(config: Config, runtime: Runtime, url: str) -> None:
    """The start-up summary: a block on a terminal, one ``server.summary`` log event otherwise."""
    summary = startup_summary(config, runtime.services, url)
    if _console(config):
        print(render_summary(summary), flush=True)
    else:
        log.info("server.summary", **summary)


async def serve(config: Config, stop: _StopRequest) -> int:
    """Run the runtime and the HTTP server until SIGTERM or Ctrl-C, then drain.

    Returns 0 after a drain, 1 when the port cannot be bound, and 128 + the signal's number when
    a second signal cut the drain short.
    """
    import uvicorn

    from hal9.auth import AuthService, auth_services
    from hal9.cli.collector import settle_garbage_collection
    from hal9.requests import request_log
    from hal9.runtime.runtime import Runtime
    from hal9.server import create_app
    from hal9.server.signals import result_json

    try:
        sock = _bind(config.server.host, config.server.port)
    except OSError as exc:
        log.error("server.bind_failed", host=config.server.host, port=config.server.port, error=str(exc))
        print(_bind_error(config.server.host, config.server.port, exc), file=sys.stderr, flush=True)
        return 1
    stop.bind_loop()
    with sock:
        services = {**auth_services(config), **request_log(config, result_json)}
        async with Runtime(config, services=services) as runtime:
            auth = runtime.services.get(AuthService)
            if auth is not None:
                _print_bootstrap_key(await auth.bootstrap())
            app = create_app(runtime)
            server = _server_class()(
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

            def force() -> None:
                log.warning("server.forced_stop", signal=stop.forced, active_requests=runtime.active_requests)
                runtime.abort("the server was stopped by a second signal before the request finished")
                # The failed requests' answers are written on the next turns of the loop, before
                # uvicorn's shutdown (polling every 0.1 s) sees this and stops waiting for them.
                server.force_exit = True

            stop.server = server
            stop.on_force = force
            server.should_exit = stop.requested
            if stop.forced is not None:
                force()
            host, port = sock.getsockname()[:2]
            url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            _announce(config, runtime, url)
            settle_garbage_collection()
            log.info("server.listening", host=host, port=port, url=url, server_id=config.server_id)
            await server.serve(sockets=[sock])
            log.info("server.draining", active_requests=runtime.active_requests)
    log.info("server.stopped")
    return 0 if stop.forced is None else 128 + stop.forced


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


def load(path: str | None, host: str | None = None, port: int | None = None, data_dir: str | None = None) -> Config:
    """The configuration a server runs: the file, the environment, then the command line's options.

    Raises:
        ConfigError: invalid, or no neurons (a server needs at least one).
    """
    config = load_config(path)
    if not config.neurons:
        # Valid for a Runtime built in code (neurons added later), useless for a server.
        raise ConfigError("neurons: the network has no neurons; a server needs at least one")
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        config = config.model_copy(update={"server": config.server.model_copy(update=updates)})
    if data_dir is not None:
        config = config.model_copy(update={"data_dir": Path(data_dir)})
    return config.with_data_dir()


def refuse_unsafe(config: Config) -> None:
    """What a server refuses to run, whatever starts it (``serve`` and ``check`` alike).

    Raises:
        ConfigError: authentication is off on an address other hosts can reach.
    """
    if not config.auth.enabled and not is_loopback(config.server.host):
        raise ConfigError(
            f"refusing to serve on {config.server.host} with authentication disabled "
            "([auth] enabled = false or HAL9_AUTH__ENABLED=false): anyone who can reach that address "
            "could use the API. Enable auth, or bind to a loopback address such as 127.0.0.1."
        )


def cmd_serve(args: argparse.Namespace) -> int:
    config = load(args.config, args.host, args.port, args.data_dir)
    refuse_unsafe(config)  # ConfigError: main() prints why, exit status 2
    # Before any thread or file exists: every file the server makes is private (docstring above),
    # and threads share a few malloc arenas.
    os.umask(PRIVATE_UMASK)
    limit_malloc_arenas()
    assert config.data_dir is not None  # load() gave it one
    check_data_dir(config.data_dir)  # ConfigError: refused, and main() prints why
    configure_logging(config.logging.level, config.logging.format)
    stop = _StopRequest()
    stop.install()
    return anyio.run(serve, config, stop)
