"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hal9.network.peers import NetworkStatusSource
from hal9.runtime.runtime import Runtime
from hal9.server.auth import metrics_access
from hal9.server.deps import RuntimeDep

router = APIRouter(tags=["system"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def servers_gone(runtime: Runtime) -> dict[str, list[str]]:
    """The other servers that hold neurons of this network and are not alive, with those neurons.

    A server is gone when the heartbeats say so, or when none has come from it yet: either way
    a request that reaches one of its neurons fails (after ``network.delivery_timeout``).
    """
    placed: dict[str, list[str]] = {}
    for neuron_id, server_id in sorted(runtime.remote_neurons.items()):
        placed.setdefault(server_id, []).append(neuron_id)
    if not placed:
        return {}
    source = next((s for s in runtime.services.values() if isinstance(s, NetworkStatusSource)), None)
    alive = {peer.server_id for peer in source.network_status().peers if peer.alive} if source is not None else set()
    return {server_id: neurons for server_id, neurons in placed.items() if server_id not in alive}


@router.get(
    "/ready",
    responses={
        503: {
            "description": (
                "starting, draining, or a neuron is down; in distributed mode also (status degraded) while a "
                "server that holds some of the network's neurons is gone (servers_gone: server id -> its neurons)"
            )
        }
    },
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the runtime accepts requests, every neuron's loop runs, and every other server it needs is up."""
    gone = servers_gone(runtime)
    if runtime.ready and not gone:
        return JSONResponse({"status": "ready"})
    if runtime.ready:
        return JSONResponse({"status": "degraded", "servers_gone": gone}, status_code=503)
    down = [n.id for n in runtime.neuron_snapshot if not n.running]
    body = {"status": "not ready", "accepting": runtime.accepting, "neurons_down": down, "servers_gone": gone}
    return JSONResponse(body, status_code=503)


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)])
async def metrics(runtime: RuntimeDep) -> Response:
    """The Prometheus text exposition, rendered in pieces so neurons keep running during it."""
    return Response(await runtime.metrics.render_async(), media_type=CONTENT_TYPE_LATEST)
