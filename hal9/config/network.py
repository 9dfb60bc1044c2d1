"""The ``[network]`` section: distributed mode over NATS."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from hal9.config.section import Section

#: The service path of distributed mode, added to the services when ``network.nats_url`` is set.
NETWORK_SERVICE = "hal9.network.service:NatsNetwork"
#: The service path of the cluster's shared state, added first when ``network.shared_state`` is on too.
CLUSTER_SERVICE = "hal9.cluster.state:ClusterState"


class NetworkConfig(Section):
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

    shared_state: bool = Field(
        default=True,
        description="keep budgets, auth, accepted requests, memory and feedback on NATS JetStream, one for "
        "the cluster (needs nats-server -js); false: each server keeps its own in its SQLite",
    )
    processed_retention: float = Field(
        default=86_400.0,
        gt=0,
        description="seconds the result of a signal this server processed for another is kept in JetStream "
        "(shared state only), so a re-send after a crash is answered from it instead of running again",
    )
    replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream replicas of the shared buckets and streams (NATS cluster size)"
    )

    @property
    def shared(self) -> bool:
        """True when the cluster's state is kept on JetStream (distributed mode with ``shared_state``)."""
        return bool(self.urls) and self.shared_state

    @property
    def urls(self) -> list[str]:
        return [url.strip() for url in (self.nats_url or "").split(",") if url.strip()]
