"""How the network service connects to NATS: the options passed through to nats-py."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from hal9.config import NetworkConfig

try:
    import nats.errors
    from nats.aio.client import Client
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("distributed mode needs nats-py: pip install 'hal9[distributed]'") from exc


def connect_options(
    settings: NetworkConfig,
    server_id: str,
    *,
    on_error: Callable[[Exception], Awaitable[None]],
    on_disconnected: Callable[[], Awaitable[None]],
    on_reconnected: Callable[[], Awaitable[None]],
    echo: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of ``nats.connect`` for ``[network]``: servers, credentials, TLS, reconnects."""
    options: dict[str, Any] = {
        "servers": settings.urls,
        "name": f"hal9:{server_id}",
        "connect_timeout": settings.connect_timeout,
        # Forever: a NATS restart must not end distributed mode; the heartbeats show the gap.
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": min(1.0, settings.heartbeat_interval),
        # The network's connection does not hear its own heartbeats; the cluster state's hears its own writes.
        "no_echo": not echo,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
    }
    if settings.token is not None:
        options["token"] = settings.token.get_secret_value()
    if settings.user is not None:
        options["user"] = settings.user
        options["password"] = settings.password.get_secret_value() if settings.password else ""
    if settings.tls_ca is not None or settings.tls_cert is not None:
        context = ssl.create_default_context(cafile=str(settings.tls_ca) if settings.tls_ca else None)
        if settings.tls_cert is not None:
            context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
        options["tls"] = context
    return options


async def close_quietly(client: Client, timeout: float) -> None:
    """Close a NATS connection within ``timeout``, shielded, even while the server is unreachable.

    A service stopped during a NATS outage still stops: closing a dead connection may raise.
    """
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(timeout),
        contextlib.suppress(OSError, nats.errors.Error),
    ):
        await client.close()
