"""Retrying against the cluster: doubling waits after failures, a failure and a recovery reported once each."""

from __future__ import annotations

import anyio

#: The wait after a first failure, and the longest wait (it doubles in between).
FIRST_DELAY = 0.2
MOST_DELAY = 5.0


class Backoff:
    """The waits between attempts that fail: :data:`FIRST_DELAY`, doubling up to :data:`MOST_DELAY`.

    :meth:`failed` and :meth:`succeeded` say when a run of failures starts and ends, so that a
    caller logs each once rather than every attempt.
    """

    __slots__ = ("delay", "failing")

    def __init__(self) -> None:
        self.delay = FIRST_DELAY
        self.failing = False

    def failed(self) -> bool:
        """An attempt failed; True if it is the first since the last success."""
        first = not self.failing
        self.failing = True
        return first

    async def wait(self) -> None:
        """Sleep the current wait; the next one is twice as long (at most :data:`MOST_DELAY`)."""
        await anyio.sleep(self.delay)
        self.delay = min(self.delay * 2, MOST_DELAY)

    def succeeded(self) -> bool:
        """An attempt succeeded: the waits start over; True if it ends a run of failures."""
        recovered = self.failing
        self.failing = False
        self.delay = FIRST_DELAY
        return recovered
