"""``ClusterState``: the JetStream connection every shared piece of cluster state is kept through.

In distributed mode (``network.nats_url`` set, ``network.shared_state`` on) the state that must be
one per deployment lives in JetStream on the same NATS the network runs on: key-value buckets
(compare-and-set, watches) and streams. This service owns that connection; the services that
share state (budgets, auth, requests, memory, feedback) find it with
``runtime.services.get(ClusterState)`` and open their buckets and streams through it, under the
cluster's names, so two clusters on one NATS never see each other's state.

It is entered before every other service (the configuration lists it first), so a service's
own start can already use it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, Self

import structlog

from hal9.config import Config, NetworkConfig
from hal9.config.network import CLUSTER_SERVICE
from hal9.errors import NetworkUnavailable
from hal9.network.connection import close_quietly, connect_options
from hal9.runtime.service import Service

try:
    import nats
    import nats.errors
    import nats.js.errors
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.api import KeyValueConfig, StorageType, StreamConfig
    from nats.js.kv import KeyValue
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("cluster mode needs nats-py: pip install 'hal9[distributed]'") from exc

__all__ = ["CLUSTER_SERVICE", "ClusterState"]


log = structlog.get_logger("hal9.cluster")


class ClusterState(Service):
    """A JetStream context on the cluster's NATS, and the buckets and streams opened through it.

    Args:
        settings: the ``[network]`` section (URLs, credentials, TLS, the cluster's name).
        server_id: this server's id (the connection's name).
    """

    name = "cluster"

    def __init__(self, settings: NetworkConfig, server_id: str) -> None:
        if not settings.urls:
            raise ValueError("network.nats_url is not set")
        self.settings = settings
        self.server_id = server_id
        self.cluster = settings.cluster
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._closing = False

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(config.network, config.server_id)

    # -- names --------------------------------------------------------------------------

    def bucket_name(self, bucket: str) -> str:
        """The JetStream name of this cluster's key-value bucket ``bucket`` (``hal9_<cluster>_<bucket>``)."""
        return f"hal9_{self.cluster}_{bucket}"

    def stream_name(self, stream: str) -> str:
        """The JetStream name of this cluster's stream ``stream`` (``HAL9_<cluster>_<stream>``)."""
        return f"HAL9_{self.cluster}_{stream}"

    def subject(self, *parts: str) -> str:
        """A subject under the cluster's prefix: ``hal9.<cluster>.state.<parts...>``."""
        return ".".join(("hal9", self.cluster, "state", *parts))

    # -- use ----------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The NATS connection (raises while not entered)."""
        if self._client is None:
            raise NetworkUnavailable("the cluster state is not connected")
        return self._client

    @property
    def jetstream(self) -> JetStreamContext:
        """The JetStream context (raises while not entered)."""
        if self._js is None:
            raise NetworkUnavailable("the cluster state is not connected")
        return self._js

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def key_value(self, bucket: str, *, history: int = 1, ttl: float | None = None, **config: Any) -> KeyValue:
        """This cluster's bucket ``bucket``, created on first use with the given settings.

        Every server asks for the same settings; the first creates the bucket, the others bind to
        it. ``ttl`` (seconds) ages out every value of the bucket; ``config`` passes further
        :class:`nats.js.api.KeyValueConfig` fields.
        """
        js = self.jetstream
        name = self.bucket_name(bucket)
        settings = KeyValueConfig(
            bucket=name, history=history, ttl=ttl, storage=StorageType.FILE, replicas=self.settings.replicas, **config
        )
        try:
            return await js.create_key_value(settings)
        except nats.js.errors.BadRequestError:
            # Created before with other settings (an older server's): use it as it is.
            return await js.key_value(name)

    async def stream(self, stream: str, subjects: list[str], **config: Any) -> str:
        """Create (or update) this cluster's stream ``stream`` on ``subjects``; returns its JetStream name."""
        js = self.jetstream
        name = self.stream_name(stream)
        settings = StreamConfig(
            name=name, subjects=subjects, storage=StorageType.FILE, num_replicas=self.settings.replicas, **config
        )
        try:
            await js.add_stream(settings)
        except nats.js.errors.BadRequestError:
            await js.update_stream(settings)
        return name

    # -- lifecycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Connect to NATS and check that JetStream answers; on exit close the connection."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        try:
            client = await nats.connect(
                **connect_options(
                    self.settings,
                    f"{self.server_id}:state",
                    on_error=self._on_error,
                    on_disconnected=self._on_disconnected,
                    on_reconnected=self._on_reconnected,
                    echo=True,
                )
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise NetworkUnavailable(f"cannot connect to NATS at {self.settings.nats_url}: {exc}") from exc
        try:
            js = client.jetstream(timeout=self.settings.ack_timeout * 5)
            try:
                await js.account_info()
            except (nats.errors.Error, TimeoutError) as exc:
                raise NetworkUnavailable(
                    f"NATS at {self.settings.nats_url} has no JetStream ({type(exc).__name__}); "
                    "start nats-server with -js (and --store_dir), or set network.shared_state = false"
                ) from exc
            self._client, self._js = client, js
            log.info("cluster.started", cluster=self.cluster, nats=self.settings.urls)
            try:
                yield self
            finally:
                self._client = self._js = None
        finally:
            self._closing = True
            await close_quietly(client, self.settings.connect_timeout)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("cluster.nats_error", error=type(exc).__name__, detail=str(exc)[:300])

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("cluster.disconnected")

    async def _on_reconnected(self) -> None:
        log.info("cluster.reconnected")
