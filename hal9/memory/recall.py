"""One recall per request: the first search of a request's trace is shared by every neuron on its path.

Every LLM neuron of a request recalls before it calls the model, and their signals all derive
from the request's words. Searching once, with the words of the first neuron's signal (the
request itself, at the entry), and handing the same entries to the neurons that follow turns
seven searches a request into one. Concurrent callers of the same trace wait for the one
search in flight rather than starting their own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio

from hal9.runtime.memory import MemoryEntry

#: Searches in flight or kept for requests still running; past it the oldest is dropped (and searched again if asked).
MAX_TRACES = 4096


class _Shared:
    """One trace's recall: set once its search has returned (or failed)."""

    __slots__ = ("done", "entries")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.entries: list[MemoryEntry] | None = None


class SharedRecall:
    """The recalls of running requests, one search each, kept until the request ends.

    Args:
        search: runs the search for a query (``match="any"`` over every neuron's entries, at most ``limit``).
        max_traces: traces kept at most (the oldest dropped first).
    """

    def __init__(
        self, search: Callable[[str, int], Awaitable[list[MemoryEntry]]], max_traces: int = MAX_TRACES
    ) -> None:
        self._search = search
        self._max_traces = max_traces
        self._traces: OrderedDict[str, _Shared] = OrderedDict()

    def __len__(self) -> int:
        return len(self._traces)

    async def recall(self, query: str, trace_id: str, limit: int) -> list[MemoryEntry]:
        """The entries most relevant to the trace's first query, searched once per trace.

        A failed search is not kept: the callers waiting for it, and the next one, search
        for themselves.
        """
        shared = self._traces.get(trace_id)
        if shared is not None:
            await shared.done.wait()
            if shared.entries is not None:
                return shared.entries
            return await self._search(query, limit)
        shared = self._traces[trace_id] = _Shared()
        while len(self._traces) > self._max_traces:
            self._traces.popitem(last=False)
        try:
            shared.entries = await self._search(query, limit)
        except BaseException:
            if self._traces.get(trace_id) is shared:
                del self._traces[trace_id]
            raise
        finally:
            shared.done.set()
        return shared.entries

    def forget(self, trace_id: str) -> None:
        """The trace has ended: its recall is no longer needed."""
        self._traces.pop(trace_id, None)
