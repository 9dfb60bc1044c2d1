"""A bounded mailbox: a FIFO whose admission and delivery are counted by two semaphores."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from hal9.errors import MailboxFull, NeuronStopped

T = TypeVar("T")


class Mailbox(Generic[T]):
    """A bounded FIFO between any number of senders and one actor's receivers (its workers, in order of asking).

    Senders take one of ``capacity`` slots from a semaphore; the receiver takes one queued
    item from a second semaphore. Why not ``await stream.send()`` on a memory object stream
    under a timeout: a send that is cancelled just after a receiver took the item cannot
    tell whether it was delivered, and the sender would report ``MailboxFull`` for a signal
    that is in fact processed. anyio's semaphore hands a granted slot back when the wait is
    cancelled, so here a timed-out put has delivered nothing. And why not a memory object
    stream at all: its receive end must be closed explicitly or it warns (``ResourceWarning``)
    when collected, which a mailbox of a network that was built but never started, or of a
    neuron that was removed, never would be. A deque holds nothing to close.
    """

    __slots__ = ("_closed", "_items", "_queue", "_slots", "capacity", "owner")

    def __init__(self, owner: str, capacity: int) -> None:
        self.owner = owner
        self.capacity = capacity
        self._queue: deque[T] = deque()
        self._slots = anyio.Semaphore(capacity, max_value=capacity)
        # One permit per queued item, plus one more once closed to wake the receiver for the end.
        # fast_acquire: a permit that is there is taken without the shielded checkpoint
        # (a cancel scope per item); get() yields with a plain checkpoint instead.
        self._items = anyio.Semaphore(0, fast_acquire=True)
        self._closed = False

    @property
    def size(self) -> int:
        """Items waiting; safe to read from another thread (a deque length)."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def try_put(self, item: T) -> bool:
        """Deliver if there is room now; False if full (the caller may then wait with :meth:`put`).

        Raises:
            NeuronStopped: the mailbox is closed.
        """
        if self._closed:
            raise NeuronStopped(self.owner)
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            return False
        self._deliver(item)
        return True

    def put_nowait(self, item: T) -> None:
        """Deliver at once or raise :class:`MailboxFull` (no waiting).

        Raises:
            MailboxFull: no room.
            NeuronStopped: the mailbox is closed.
        """
        if not self.try_put(item):
            raise MailboxFull(self.owner, 0.0)

    async def put(self, item: T, timeout: float) -> None:
        """Deliver, waiting up to ``timeout`` seconds for room.

        Raises:
            MailboxFull: no room within the timeout; the item was not delivered.
            NeuronStopped: the mailbox is closed.
        """
        if self.try_put(item):
            return
        with anyio.move_on_after(timeout):
            await self._slots.acquire()
            self._deliver(item)
            return
        raise MailboxFull(self.owner, timeout)

    def _deliver(self, item: T) -> None:
        # Holds a slot; the mailbox may have been closed while the sender waited for it.
        if self._closed:
            self._slots.release()
            raise NeuronStopped(self.owner)
        self._queue.append(item)
        self._items.release()

    async def get(self) -> T:
        """The next item; raises ``anyio.EndOfStream`` once closed and empty."""
        if self._queue:
            # Let other tasks run between queued items, as a memory stream's receive does.
            await anyio.lowlevel.checkpoint()
        await self._items.acquire()
        if not self._queue:
            # The permit close() added: hand it back so every later get() ends too.
            self._items.release()
            raise anyio.EndOfStream
        item = self._queue.popleft()
        self._slots.release()
        return item

    def close(self) -> None:
        """Refuse new items; the items already queued can still be received."""
        if not self._closed:
            self._closed = True
            self._items.release()
