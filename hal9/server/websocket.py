"""``/ws``: runtime events as JSON, as they happen, to each connected client.

Each client has a bounded buffer. A client that falls behind is disconnected (close
code 1013, try again later): the runtime never waits for a slow reader.

Credentials come as on every route (``Authorization: Bearer``, ``X-API-Key``), or, from a
client that cannot set headers, in the subprotocols ``hal9.events, hal9.bearer.<token>``
(:mod:`hal9.server.auth`). A client that offers ``hal9.events`` gets it back as the
accepted subprotocol, as RFC 6455 requires; the credential subprotocol is never echoed.
"""

from __future__ import annotations

import json

import anyio
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hal9.runtime.events import Subscription
from hal9.server.auth import EVENTS_SUBPROTOCOL
from hal9.server.metrics import ConnectionCounts

router = APIRouter()
log = structlog.get_logger("hal9.server.websocket")

#: A send that takes longer than this means the client stopped reading.
SEND_TIMEOUT_SECONDS = 10.0
TRY_AGAIN_LATER = 1013


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    runtime = websocket.app.state.runtime
    counts: ConnectionCounts = websocket.app.state.connection_counts
    offered: list[str] = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=EVENTS_SUBPROTOCOL if EVENTS_SUBPROTOCOL in offered else None)
    counts.websockets += 1
    subscription = runtime.events.subscribe(buffer=runtime.config.server.websocket_buffer)
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_forward_events, websocket, subscription, task_group.cancel_scope)
            await _wait_for_disconnect(websocket)
            task_group.cancel_scope.cancel()
    finally:
        subscription.close()
        counts.websockets -= 1


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except WebSocketDisconnect:
        return


async def _forward_events(websocket: WebSocket, subscription: Subscription, scope: anyio.CancelScope) -> None:
    try:
        async for event in subscription:
            with anyio.move_on_after(SEND_TIMEOUT_SECONDS) as send_scope:
                await websocket.send_text(json.dumps(event, default=str))
            if send_scope.cancelled_caught:
                subscription.overflowed = True
                break
    except (WebSocketDisconnect, RuntimeError):
        # The client went away while we were sending; the reader side ends the handler.
        return
    if subscription.overflowed:
        log.warning("websocket.slow_client_dropped")
        await websocket.close(code=TRY_AGAIN_LATER, reason="client too slow; events were dropped")
    scope.cancel()
