"""Runtime events for live observers (the WebSocket): bounded per subscriber, never blocking."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import anyio

Event = dict[str, Any]


class Subscription:
    """One observer's bounded queue of events.

    When the observer falls behind and its buffer fills, it is cut off (``overflowed``)
    rather than slowing the runtime or growing without bound. Events queued before the
    cut-off (or before :meth:`close`) are still delivered; then iteration ends.

    A deque and an event rather than a memory object stream: a stream's receive end
    must be closed or it warns (``ResourceWarning``) when collected, and a subscriber
    that goes away before it starts reading (a WebSocket client that disconnects at
    once) never would close it.
    """

    def __init__(self, bus: EventBus, buffer: int, trace_id: str | None = None) -> None:
        self._bus = bus
        self._buffer = buffer
        #: Only events of this trace are queued (None: every event): others never fill the buffer.
        self.trace_id = trace_id
        self._queue: deque[Event] = deque()
        self._ready = anyio.Event()
        self._closed = False
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self._closed or (self.trace_id is not None and event.get("trace_id") != self.trace_id):
            return
        if len(self._queue) >= self._buffer:
            self.overflowed = True
            self.close()
            return
        self._queue.append(event)
        self._ready.set()

    def close(self) -> None:
        self._bus.unsubscribe(self)
        self._closed = True
        self._ready.set()

    async def receive(self) -> Event:
        """The next event, waiting for one if none is queued.

        Cancel-safe: a wait that is cancelled (``anyio.move_on_after`` around it) takes
        nothing, so the next call still gets the event. Iteration, by contrast, ends for
        good when cancelled inside its generator.

        Raises:
            anyio.EndOfStream: the subscription was closed (or cut off) and its queue is empty.
        """
        while not self._queue:
            if self._closed:
                raise anyio.EndOfStream
            self._ready = anyio.Event()
            await self._ready.wait()
        return self._queue.popleft()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.receive()
            except anyio.EndOfStream:
                return
            yield event


class EventBus:
    """Publishes runtime events to subscribers; costs one truth test when nobody listens."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        #: Whether anyone listens: a plain attribute, read several times per hop.
        self.active = False

    def subscribe(self, buffer: int = 256, *, trace_id: str | None = None) -> Subscription:
        """A new subscription: to every event, or with ``trace_id`` to that trace's events only."""
        subscription = Subscription(self, buffer, trace_id)
        self._subscribers = [*self._subscribers, subscription]
        self.active = True
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers = [s for s in self._subscribers if s is not subscription]
        self.active = bool(self._subscribers)

    def publish(self, kind: str, **fields: Any) -> None:
        """Send an event to every subscriber; call only when ``active`` to skip building it."""
        event: Event = {"type": kind, "time": time.time(), **fields}
        # Iterate over the current list object: offer() may replace it when a client overflows.
        for subscription in self._subscribers:
            subscription.offer(event)
