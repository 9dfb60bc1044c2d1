"""Distributed mode as this server sees it: its peers, their neurons, heartbeats and latency."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from hal9.network.peers import NetworkStatusSource
from hal9.server.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/network", tags=["network"])


class PeerView(BaseModel):
    server_id: str
    instance: str
    neurons: list[str]
    alive: bool
    last_heartbeat: float
    seconds_since_heartbeat: float
    latency_seconds: float | None


class NetworkView(BaseModel):
    server_id: str
    enabled: bool
    cluster: str | None = None
    instance: str | None = None
    connected: bool = False
    in_flight: int = 0
    remote_neurons: dict[str, str]
    peers: list[PeerView] = []


@router.get("", response_model=NetworkView)
async def get_network(runtime: RuntimeDep) -> NetworkView:
    """Peers (alive or gone), their neurons, last heartbeat (epoch seconds) and last ping's round trip.

    ``enabled`` is false when no ``[network] nats_url`` is configured.
    """
    remote = dict(runtime.remote_neurons)
    source = next((s for s in runtime.services.values() if isinstance(s, NetworkStatusSource)), None)
    if source is None:
        return NetworkView(server_id=runtime.config.server_id, enabled=False, remote_neurons=remote)
    status = source.network_status()
    return NetworkView(
        server_id=status.server_id,
        enabled=True,
        cluster=status.cluster,
        instance=status.instance,
        connected=status.connected,
        in_flight=status.in_flight,
        remote_neurons=remote,
        peers=[PeerView.model_validate(p, from_attributes=True) for p in status.peers],
    )
