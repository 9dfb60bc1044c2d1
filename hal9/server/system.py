"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hal9.server.auth import metrics_access
from hal9.server.deps import RuntimeDep

router = APIRouter(tags=["system"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "starting, draining, or a neuron is down"}})
async def ready(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the runtime accepts requests and every neuron's loop runs."""
    if runtime.ready:
        return JSONResponse({"status": "ready"})
    down = [n.id for n in runtime.neuron_snapshot if not n.running]
    return JSONResponse({"status": "not ready", "accepting": runtime.accepting, "neurons_down": down}, status_code=503)


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)])
async def metrics(runtime: RuntimeDep) -> Response:
    """The Prometheus text exposition, rendered in pieces so neurons keep running during it."""
    return Response(await runtime.metrics.render_async(), media_type=CONTENT_TYPE_LATEST)
