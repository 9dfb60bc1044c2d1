"""A bounded mailbox: an anyio memory object stream with cancel-safe admission."""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from hal9.errors import MailboxFull, NeuronStopped

T = TypeVar("T")


class Mailbox(Generic[T]):
    """A bounded FIFO between any number of senders and one actor.

    Admission goes through a semaphore with one slot per buffered item, so the stream
    itself never blocks. Why not ``await stream.send()`` under a timeout: a send that is
    cancelled just after a receiver took the item cannot tell whether it was delivered,
    and the sender would report ``MailboxFull`` for a signal that is in fact processed.
    anyio's semaphore hands a granted slot back when the wait is cancelled, so here a
    timed-out send has delivered nothing.
    """

    __slots__ = ("_receive", "_send", "_slots", "capacity", "owner")

    def __init__(self, owner: str, capacity: int) -> None:
        self.owner = owner
        self.capacity = capacity
        self._slots = anyio.Semaphore(capacity, max_value=capacity)
        self._send: MemoryObjectSendStream[T]
        self._receive: MemoryObjectReceiveStream[T]
        self._send, self._receive = anyio.create_memory_object_stream[T](capacity)

    @property
    def size(self) -> int:
        """Items waiting; safe to read from another thread (a deque length)."""
        return self._receive.statistics().current_buffer_used

    @property
    def closed(self) -> bool:
        return self._send._closed

    def put_nowait(self, item: T) -> None:
        """Deliver at once or raise :class:`MailboxFull` (no waiting)."""
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            raise MailboxFull(self.owner, 0.0) from None
        self._deliver(item)

    async def put(self, item: T, timeout: float) -> None:
        """Deliver, waiting up to ``timeout`` seconds for room.

        Raises:
            MailboxFull: no room within the timeout; the item was not delivered.
            NeuronStopped: the mailbox is closed.
        """
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            if self.closed:
                raise NeuronStopped(self.owner) from None
            with anyio.move_on_after(timeout):
                await self._slots.acquire()
                self._deliver(item)
                return
            raise MailboxFull(self.owner, timeout) from None
        self._deliver(item)

    def _deliver(self, item: T) -> None:
        try:
            self._send.send_nowait(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._slots.release()
            raise NeuronStopped(self.owner) from None

    async def get(self) -> T:
        """The next item; raises ``anyio.EndOfStream`` once closed and empty."""
        item = await self._receive.receive()
        self._slots.release()
        return item

    def close(self) -> None:
        """Refuse new items; the items already queued can still be received."""
        self._send.close()
