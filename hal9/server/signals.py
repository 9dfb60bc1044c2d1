"""Requests into the network and their results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from hal9.server.deps import RuntimeDep
from hal9.server.schemas import AcceptedView, SignalRequest, SignalView

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])

_BUSY: dict[int | str, dict[str, Any]] = {
    503: {"description": "the entry neuron's mailbox stayed full; retry after Retry-After seconds"}
}


@router.post(
    "",
    status_code=202,
    response_model=AcceptedView,
    responses={200: {"model": SignalView}, 413: {}, 504: {"model": AcceptedView}, **_BUSY},
)
async def submit_signal(body: SignalRequest, runtime: RuntimeDep) -> JSONResponse:
    """Send a request. With ``wait`` the answer is the result (or 504 past the timeout)."""
    settings = runtime.config.server
    if len(body.content) > settings.max_content_chars:
        raise HTTPException(
            413, f"content has {len(body.content)} characters; the limit is {settings.max_content_chars}"
        )
    request_id = await runtime.submit(body.content)
    location = {"Location": f"/api/v1/signals/{request_id}"}
    if not body.wait:
        return JSONResponse(AcceptedView(id=request_id).model_dump(), status_code=202, headers=location)
    try:
        result = await runtime.wait(request_id, timeout=settings.request_timeout)
    except TimeoutError:
        pending = AcceptedView(id=request_id).model_dump()
        pending["detail"] = f"no result within {settings.request_timeout:g}s; poll the Location"
        return JSONResponse(pending, status_code=504, headers=location)
    return JSONResponse(SignalView.of(result).model_dump(mode="json"), status_code=200, headers=location)


@router.get("/{signal_id}", response_model=SignalView, responses={404: {}})
async def get_signal(signal_id: str, runtime: RuntimeDep) -> SignalView:
    """A request's status, result, timings and path through the neurons."""
    return SignalView.of(runtime.lookup(signal_id))
