"""The memory service protocol that neurons call; the embedded default lives in :mod:`hal9.memory`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: What an entry records; a closed set, so it can be checked by the schema and filtered on.
MemoryKind = Literal["task", "result", "error", "lesson", "tool", "signal"]
MEMORY_KINDS: tuple[MemoryKind, ...] = ("task", "result", "error", "lesson", "tool", "signal")


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """What to store: one entry's content and its annotations."""

    content: str
    neuron_id: str
    kind: MemoryKind = "signal"
    layer: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    importance: float = 0.5


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    """A stored entry. ``score`` is set by search: its BM25 score (higher is more relevant)."""

    id: int
    neuron_id: str
    layer: str | None
    kind: MemoryKind
    content: str
    metadata: Mapping[str, Any]
    importance: float
    created_at: float
    last_accessed: float
    access_count: int
    score: float | None = None


@runtime_checkable
class Memory(Protocol):
    """What a neuron needs from a memory: store, recall by id or recency, search, forget."""

    async def store(
        self,
        content: str,
        *,
        neuron_id: str,
        kind: MemoryKind = "signal",
        layer: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float = 0.5,
    ) -> int:
        """Store one entry and return its id once it is durable.

        Raises:
            InvalidMemoryEntry: the content is empty or too long, or the kind or importance is invalid.
            MemoryNotRunning: the service is not started.
        """
        ...

    async def store_many(self, records: Sequence[MemoryRecord]) -> list[int]:
        """Store several entries (in one transaction when possible); their ids, in order, once durable."""
        ...

    async def retrieve(self, entry_id: int) -> MemoryEntry | None:
        """The entry with this id, or None."""
        ...

    async def recent(self, neuron_id: str, limit: int = 10) -> list[MemoryEntry]:
        """A neuron's most recent entries, newest first."""
        ...

    async def search(
        self,
        query: str,
        *,
        neuron_id: str | None = None,
        kind: MemoryKind | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10,
        match: Literal["all", "any"] = "all",
    ) -> list[MemoryEntry]:
        """Full-text search, most relevant first. Any string is a valid query.

        Args:
            query: free text; its words are the terms (``word*`` is a prefix), operators are not.
            neuron_id: only this neuron's entries.
            kind: only entries of this kind.
            since: only entries created at or after this time (seconds since the epoch).
            until: only entries created before this time.
            limit: at most this many entries.
            match: "all" terms must occur (the default), or "any" of them.
        """
        ...

    async def forget(self, entry_id: int) -> bool:
        """Delete an entry; False if there was none."""
        ...


@runtime_checkable
class RequestRecall(Protocol):
    """A memory that recalls once per request and shares the result down the request's path."""

    async def recall(self, query: str, *, trace_id: str, limit: int = 10) -> list[MemoryEntry]:
        """The entries of any neuron most relevant to the request ``trace_id``, most relevant first.

        The first call of a trace searches with its ``query`` (``match="any"``); later calls of
        the same trace, until it ends, get the same entries without searching again.
        """
        ...
