"""The server, runtime, neuron and logging sections."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator

from hal9.config.section import Section
from hal9.layer import Layer


class ServerConfig(Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    request_timeout: float = Field(
        default=300.0, gt=0, description="wait=true answers 504 after this; a request makes several LLM calls"
    )
    max_content_chars: int = Field(default=100_000, gt=0)
    websocket_buffer: int = Field(
        default=256, gt=0, description="events queued per /ws or event-stream client before it is cut off"
    )
    retry_after_seconds: int = Field(default=1, ge=1)
    forwarded_allow_ips: tuple[str, ...] = Field(
        default=(),
        description="proxies (addresses or CIDR networks) whose X-Forwarded-For/-Proto are believed; "
        "none by default, so the login limiter and the logs see the connecting peer",
    )
    requests_retention: float = Field(
        default=7 * 86_400.0,
        gt=0,
        description="seconds an accepted request's record (and result) is kept for GET /api/v1/signals/{id} "
        "after a restart: in data_dir/hal9.db, or in the cluster's JetStream bucket",
    )
    requests_max_rows: int = Field(
        default=100_000,
        gt=0,
        description="request records kept at most in data_dir/hal9.db; past it the oldest finished go first",
    )

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """``HAL9_SERVER__FORWARDED_ALLOW_IPS=10.0.0.1,10.1.0.0/16``: a comma-separated string is a list."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        # Addresses and networks only: uvicorn would also take "*" (trust every peer), which
        # would let any client choose the address the login limiter counts.
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network (CIDR)") from None
        return proxies


class RuntimeConfig(Section):
    """Actors, mailboxes, supervision and result history."""

    mailbox_capacity: int = Field(default=64, gt=0)
    send_timeout: float = Field(default=5.0, ge=0, description="how long a sender waits on a full mailbox")
    drain_timeout: float = Field(default=10.0, ge=0)
    restart_backoff_initial: float = Field(default=0.05, gt=0)
    restart_backoff_max: float = Field(default=5.0, gt=0)
    max_traces: int = Field(default=10_000, gt=0, description="finished traces kept for GET /signals/{id}")
    max_path_hops: int = Field(default=1_000, gt=0, description="hops recorded per trace")
    neuron_concurrency: int = Field(
        default=1,
        gt=0,
        description="signals a neuron works on at once, unless its class or its [[neurons]] entry says",
    )
    memory_stores_in_flight: int = Field(
        default=128,
        gt=0,
        description="memory stores (each one request's memories) a runtime runs at once; more wait for a slot",
    )


#: The names of the built-in neuron kinds (``hal9.runtime.assembly`` maps them to their classes).
BUILTIN_KIND_NAMES: tuple[str, ...] = ("strategic", "design", "implementation")


class NeuronConfig(Section):
    """One neuron of the network and its forward connections."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    layer: Layer
    kind: str = Field(
        description="a built-in kind (strategic, design, implementation) or 'package.module:Class'",
    )
    downstream: tuple[str, ...] = ()
    mailbox_capacity: int | None = Field(default=None, gt=0)
    concurrency: int | None = Field(
        default=None, gt=0, description="signals it works on at once; None: its class's, else the runtime's default"
    )
    prompt: str | None = None
    server: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="the server_id of the server it runs on; None (or this server's id): here",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        # A path is resolved when the runtime is built (it may be a module not importable yet).
        if ":" not in kind and kind not in BUILTIN_KIND_NAMES:
            raise ValueError(
                f"unknown kind {kind!r}: the built-in kinds are {', '.join(BUILTIN_KIND_NAMES)}; "
                "a neuron class of your own is named 'package.module:Class'"
            )
        return kind


class LoggingConfig(Section):
    """Structured logs: JSON lines off a terminal, readable console output on one."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
