"""Failures as feedback: a request's failed hops (and the failures its neurons recovered from)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hal9.learning.feedback import MAX_COMMENT_CHARS
from hal9.learning.gradients import failed_hops
from hal9.learning.patterns import PatternType, classify_error
from hal9.learning.writer import Failure
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop, TraceResult

#: Requests with notes kept at most (a request that never ends must not keep its notes forever).
MAX_NOTED_REQUESTS = 1_024
MAX_NOTES_PER_REQUEST = 8


class FailureNotes:
    """Failures neurons recovered from, by request, until the request ends; bounded both ways."""

    def __init__(self) -> None:
        self._notes: OrderedDict[str, list[BranchError]] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._notes)

    def add(self, signal: Signal, neuron_id: str, error: BaseException) -> None:
        notes = self._notes.get(signal.trace_id)
        if notes is None:
            notes = self._notes[signal.trace_id] = []
            if len(self._notes) > MAX_NOTED_REQUESTS:
                self._notes.popitem(last=False)  # the oldest: most likely a request that never ended
        if len(notes) < MAX_NOTES_PER_REQUEST:
            notes.append(BranchError(neuron_id, signal.id, type(error).__name__, str(error)[:MAX_COMMENT_CHARS]))

    def take(self, trace_id: str) -> list[BranchError]:
        """The request's notes, forgotten here."""
        # Called for every request that ends: an empty dict is the common case, answered first.
        return self._notes.pop(trace_id, []) if self._notes else []


@dataclass(frozen=True, slots=True)
class Failures:
    """Where a request failed: the hops, each one's pattern by neuron, and the first failure's context."""

    hops: list[Hop]
    patterns: dict[str, PatternType]
    first: Failure


def failures(result: TraceResult, noted: list[BranchError]) -> Failures | None:
    """The request's failed hops plus the hops with a noted failure; None when there are none."""
    failed = failed_hops(result.path)
    if noted:
        sources = {note.signal_id for note in noted} - {hop.signal_id for hop in failed}
        failed += [hop for hop in result.path if hop.signal_id in sources]
    if not failed:
        return None
    by_signal = {error.signal_id: error for error in (*noted, *result.errors)}
    patterns: dict[str, PatternType] = {}
    first: Failure | None = None
    for hop in failed:
        branch = by_signal.get(hop.signal_id)
        error, message = (branch.error, branch.message) if branch is not None else ("Exception", "")
        pattern = classify_error(error, message)
        patterns.setdefault(hop.neuron_id, pattern)
        if first is None:
            first = Failure(pattern, f"{error}: {message}"[:MAX_COMMENT_CHARS])
    assert first is not None
    return Failures(failed, patterns, first)
