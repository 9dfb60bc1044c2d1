"""Requests into the network and their results."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from hal9.errors import TraceNotFound
from hal9.requests import RequestLog, RequestStoreUnavailable
from hal9.runtime.runtime import Runtime
from hal9.runtime.signal import new_id
from hal9.runtime.trace import TraceResult
from hal9.server.body import JSONRoute
from hal9.server.deps import RuntimeDep
from hal9.server.encoding import SafeJSONResponse
from hal9.server.schemas import AcceptedView, SignalRequest, SignalView

log = structlog.get_logger("hal9.server")

router = APIRouter(prefix="/api/v1/signals", tags=["signals"], route_class=JSONRoute)

#: The error a branch ends with when the server stops before the request finished.
STOPPED = "RuntimeNotRunning"

_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SignalView, "description": "with `wait`: the result, completed or partial"},
    413: {"description": "content over server.max_content_chars characters, or a body larger than the server accepts"},
    421: {"description": "distributed mode: no neuron of this server takes requests; send it to another server"},
    502: {
        "model": SignalView,
        "description": "with `wait`: the request failed (the LLM, a peer server or a neuron); `errors` says which",
    },
    503: {
        "description": (
            "the entry neuron's mailbox stayed full, or the server is stopping (then, with `wait`, the body is "
            "the unfinished request's SignalView); retry after Retry-After seconds"
        ),
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ErrorMessage"},
                        {"$ref": "#/components/schemas/SignalView"},
                    ]
                }
            }
        },
    },
    504: {"model": AcceptedView, "description": "with `wait`: no result within server.request_timeout"},
}


def result_status(result: TraceResult) -> int:
    """The HTTP status of a finished request's result, for ``wait: true``.

    - 200: completed, or partial (some branches produced a result; ``errors`` names the others).
    - 503: failed because the server stopped before it finished (a branch ended with
      ``RuntimeNotRunning``): the request was fine, retry it (on this server once it is back,
      or on another).
    - 502: failed otherwise. The API is a gateway in front of the network of neurons, and
      the network produced no result: the LLM failed it (``LLM*`` errors, a budget refused
      the call), a peer server did (``PeerUnavailable``, ``RemoteRejected``), or a neuron's
      own code raised. 422 would blame the request's content, which none of these shows,
      and 500 would blame this server, which answered correctly; ``errors`` names the cause.
    """
    if result.status != "failed":
        return 200
    if any(error.error == STOPPED for error in result.errors):
        return 503
    return 502


@router.post("", status_code=202, response_model=AcceptedView, responses=_SUBMIT_RESPONSES)
async def submit_signal(body: SignalRequest, runtime: RuntimeDep) -> Response:
    """Send a request: 202 with its id at once, or with ``wait`` the result (see ``result_status``).

    With ``wait``: 200 with the result when it completed or partly completed, 502 with the
    same body when it failed, 503 when the server stopped before it finished, 504 past
    ``server.request_timeout`` (the request goes on; poll the Location).
    """
    settings = runtime.config.server
    if len(body.content) > settings.max_content_chars:
        raise HTTPException(
            413, f"content has {len(body.content)} characters; the limit is {settings.max_content_chars}"
        )
    requests = runtime.services.get(RequestLog)
    if not body.wait:
        trace_id = await _submit(runtime, body.content, requests)
        location = {"Location": f"/api/v1/signals/{trace_id}"}
        return SafeJSONResponse(AcceptedView(id=trace_id).model_dump(), status_code=202, headers=location)
    # With wait the id goes out with the result: nothing to record before it runs.
    trace_id = await runtime.submit(body.content)
    location = {"Location": f"/api/v1/signals/{trace_id}"}
    try:
        result = await runtime.wait(trace_id, timeout=settings.request_timeout)
    except TimeoutError:
        if requests is not None:
            await _record_running(runtime, requests, trace_id)
        pending = AcceptedView(id=trace_id).model_dump()
        pending["detail"] = f"no result within {settings.request_timeout:g}s; poll the Location"
        return SafeJSONResponse(pending, status_code=504, headers=location)
    status = result_status(result)
    headers = {**location, "Retry-After": str(settings.retry_after_seconds)} if status == 503 else location
    return SafeJSONResponse(SignalView.of(result).model_dump(mode="json"), status_code=status, headers=headers)


@router.get("/{signal_id}", response_model=SignalView, responses={404: {"description": "no request with this id"}})
async def get_signal(signal_id: str, runtime: RuntimeDep) -> SignalView:
    """A request's status, result, timings and path through the neurons.

    From the request's trace while this server holds it, else from the request store (a server
    with a ``data_dir``, or any server of a cluster): the stored result, or failed
    ``Interrupted`` for a request whose server stopped before it finished.
    """
    try:
        return SignalView.of(runtime.lookup(signal_id))
    except TraceNotFound:
        requests = runtime.services.get(RequestLog)
        if requests is None:
            raise
        try:
            view = await requests.lookup(signal_id)
        except RequestStoreUnavailable as exc:
            raise _unavailable(runtime, exc) from exc
        if view is None:
            raise
        return SignalView.model_validate(view)


def result_json(result: TraceResult) -> dict[str, Any]:
    """A finished request as the request store keeps it: the JSON of its SignalView."""
    return SignalView.of(result).model_dump(mode="json")


async def _submit(runtime: Runtime, content: Any, requests: RequestLog | None) -> str:
    """Run a request; with a request store, record it first (durably), so no accepted id is ever unknown."""
    if requests is None:
        return await runtime.submit(content)
    trace_id = new_id()
    try:
        await requests.accept(trace_id)
    except RequestStoreUnavailable as exc:
        raise _unavailable(runtime, exc) from exc
    try:
        return await runtime.submit(content, trace_id=trace_id)
    except BaseException:
        requests.discard(trace_id)
        raise


async def _record_running(runtime: Runtime, requests: RequestLog, trace_id: str) -> None:
    """A waited-for request outlived the timeout: record it before the 504 hands out its id.

    If the store cannot take it, the 504 is still answered (the request runs, and its id is
    good while this server holds it), and the failure is logged.
    """
    try:
        await requests.accept(trace_id)
    except RequestStoreUnavailable as exc:
        log.warning("requests.record_failed", trace_id=trace_id, error=str(exc)[:300])
        return
    try:
        current = runtime.lookup(trace_id)
    except TraceNotFound:
        return
    if current.finished_at is not None:  # it ended while it was being recorded: write its end too
        requests.on_trace_finished(current)


def _unavailable(runtime: Runtime, exc: RequestStoreUnavailable) -> HTTPException:
    headers = {"Retry-After": str(runtime.config.server.retry_after_seconds)}
    return HTTPException(503, str(exc), headers=headers)
