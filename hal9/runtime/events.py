"""Runtime events for live observers (the WebSocket): bounded per subscriber, never blocking."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

Event = dict[str, Any]


class Subscription:
    """One observer's bounded queue of events.

    When the observer falls behind and its buffer fills, it is cut off (``overflowed``)
    rather than slowing the runtime or growing without bound.
    """

    def __init__(self, bus: EventBus, buffer: int) -> None:
        self._bus = bus
        self._send: MemoryObjectSendStream[Event]
        self._receive: MemoryObjectReceiveStream[Event]
        self._send, self._receive = anyio.create_memory_object_stream[Event](buffer)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.overflowed = True
            self.close()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.close()

    def close(self) -> None:
        self._bus.unsubscribe(self)
        self._send.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        async with self._receive:
            async for event in self._receive:
                yield event


class EventBus:
    """Publishes runtime events to subscribers; costs one truth test when nobody listens."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, buffer: int = 256) -> Subscription:
        subscription = Subscription(self, buffer)
        self._subscribers = [*self._subscribers, subscription]
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers = [s for s in self._subscribers if s is not subscription]

    def publish(self, kind: str, **fields: Any) -> None:
        """Send an event to every subscriber; call only when ``active`` to skip building it."""
        event: Event = {"type": kind, "time": time.time(), **fields}
        # Iterate over the current list object: offer() may replace it when a client overflows.
        for subscription in self._subscribers:
            subscription.offer(event)
