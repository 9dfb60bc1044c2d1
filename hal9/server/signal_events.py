"""``GET /api/v1/signals/{id}/events``: one request's events as Server-Sent Events, then its result.

Why: a client that submitted a request without waiting can follow it while it runs over
plain HTTP (curl, ``EventSource``, any proxy) instead of polling ``GET /api/v1/signals/{id}``
or holding a ``wait=true`` request open, and without a WebSocket that carries the events
of every request (``/ws``) for it to filter.

What it sends, as ``event: <type>`` / ``data: <json>`` frames:

1. A replay of what already happened, built from a snapshot of the trace and marked
   ``"replay": true``: ``signal.submitted``, one ``signal.processed`` per recorded hop
   (``path``; hops past ``runtime.max_path_hops`` are not replayed), one ``signal.failed``
   per error, and ``signal.completed`` when the request had already finished.
2. The live events of the trace (those whose ``trace_id`` is the request id), as ``/ws``
   sends them, until ``signal.completed``.
3. ``event: result``: the request's :class:`~hal9.server.schemas.SignalView`, the body of
   ``GET /api/v1/signals/{id}``. Then the response ends.

The subscription to the event bus is taken before the snapshot, in the same synchronous
step (no ``await`` between them), so that no event falls between the replay and the live
part and none is sent twice. It is bounded (``server.websocket_buffer``) like a ``/ws``
client's: the runtime never waits for a slow reader. A reader that falls behind is cut
off and the stream ends with ``event: error`` instead of the result. A ``: keep-alive``
comment goes out after 15 s without a frame, so that proxies keep the response open.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hal9.errors import TraceNotFound
from hal9.runtime.events import Event, Subscription
from hal9.runtime.runtime import Runtime
from hal9.runtime.trace import TraceResult, hop_fields
from hal9.server.deps import RuntimeDep
from hal9.server.schemas import SignalView

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])

#: A comment frame goes out after this many seconds without one, so that proxies keep the response open.
KEEP_ALIVE_SECONDS = 15.0
KEEP_ALIVE = b": keep-alive\n\n"
MEDIA_TYPE = "text/event-stream"

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-Sent Events: a replay of what already happened (marked `replay: true`), the trace's "
            "live events, then `event: result` with the request's SignalView (or `event: error` when "
            "the client read too slowly and events were dropped). A `: keep-alive` comment every 15 s of silence."
        ),
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    401: {"description": "no valid credentials"},
    403: {"description": "the caller's role lacks the permission `events:read`"},
    404: {"description": "no request with this id (unknown, or no longer kept)"},
}


class EventStream(StreamingResponse):
    """An SSE response that owns its bus subscription and closes it however the response ends.

    Closed here rather than in the generator: a generator that never started (the client
    went away first) would not run its ``finally``.
    """

    media_type = MEDIA_TYPE

    def __init__(self, frames: AsyncGenerator[bytes, None], subscription: Subscription) -> None:
        # no-cache: nothing may store the stream; X-Accel-Buffering: nginx must not buffer it.
        super().__init__(frames, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._frames = frames
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscription.close()
            with anyio.CancelScope(shield=True):
                await self._frames.aclose()


@router.get("/{signal_id}/events", status_code=200, response_class=EventStream, responses=_RESPONSES)
async def signal_events(signal_id: str, runtime: RuntimeDep) -> EventStream:
    """Follow a request: its events as Server-Sent Events (a replay first, then live), then its result."""
    # Subscribe, then snapshot, with no await in between: every later event is in the subscription.
    subscription = runtime.events.subscribe(buffer=runtime.config.server.websocket_buffer, trace_id=signal_id)
    try:
        snapshot = runtime.lookup(signal_id)
    except TraceNotFound:
        subscription.close()
        raise  # 404, before anything is streamed
    return EventStream(_frames(runtime, snapshot, subscription), subscription)


async def _frames(runtime: Runtime, snapshot: TraceResult, subscription: Subscription) -> AsyncGenerator[bytes, None]:
    trace_id = snapshot.id
    finished = snapshot.finished_at is not None
    if finished:
        subscription.close()  # nothing live to wait for: stop queueing events while the replay goes out
    for past in replay(snapshot, entries=[neuron.id for neuron in runtime.entries]):
        yield frame(past["type"], past)
    if finished:
        yield frame("result", SignalView.of(snapshot).model_dump(mode="json"))
        return
    while True:
        try:
            event = await _next_event(subscription)
        except anyio.EndOfStream:  # cut off: the events queued before that were sent
            dropped = f"the client read too slowly and events were dropped; GET /api/v1/signals/{trace_id} instead"
            yield frame("error", {"detail": dropped})
            return
        if event is None:
            yield KEEP_ALIVE
            continue
        # signal.submitted was published before the client could know the id: the replay sent it.
        if event.get("trace_id") != trace_id or event["type"] == "signal.submitted":
            continue
        yield frame(event["type"], event)
        if event["type"] == "signal.completed":
            subscription.close()
            try:
                result = runtime.lookup(trace_id)
            except TraceNotFound:  # evicted from runtime.max_traces before this reader got here
                yield frame("error", {"detail": "the result is no longer kept"})
                return
            yield frame("result", SignalView.of(result).model_dump(mode="json"))
            return


async def _next_event(subscription: Subscription) -> Event | None:
    """The next event, or None after ``KEEP_ALIVE_SECONDS`` without one (nothing is lost then)."""
    with anyio.move_on_after(KEEP_ALIVE_SECONDS):
        return await subscription.receive()
    return None


def replay(snapshot: TraceResult, entries: list[str]) -> Iterator[Event]:
    """What already happened to a trace, as the events that said so, marked ``replay``.

    The time of each is when it happened as far as the snapshot tells: the request's
    acceptance, each hop's end, the end of the failed signal's hop (else the trace's end,
    else now), the trace's end.

    Args:
        snapshot: the trace as :meth:`Runtime.lookup` returned it.
        entries: the ids of the entry neurons, for ``signal.submitted``.
    """
    trace_id = snapshot.id
    yield _replayed(
        "signal.submitted", snapshot.created_at, signal_id=trace_id, trace_id=trace_id, entries=list(entries)
    )
    ended: dict[str, float] = {}
    for hop in snapshot.path:
        end = hop.started_at + hop.duration
        ended[hop.signal_id] = end
        yield _replayed("signal.processed", end, trace_id=trace_id, **hop_fields(hop))
    fallback = snapshot.finished_at if snapshot.finished_at is not None else time.time()
    for error in snapshot.errors:
        yield _replayed(
            "signal.failed",
            ended.get(error.signal_id, fallback),
            signal_id=error.signal_id,
            trace_id=trace_id,
            neuron_id=error.neuron_id,
            error=error.error,
            message=error.message,
        )
    if snapshot.finished_at is not None:
        yield _replayed(
            "signal.completed",
            snapshot.finished_at,
            signal_id=trace_id,
            trace_id=trace_id,
            status=snapshot.status,
            outputs=list(snapshot.outputs),
            errors=len(snapshot.errors),
        )


def _replayed(kind: str, at: float, **fields: Any) -> Event:
    return {"type": kind, "time": at, **fields, "replay": True}


def frame(kind: str, data: Any) -> bytes:
    """One SSE frame; ``json.dumps`` escapes newlines, so the data is one ``data:`` line."""
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()
