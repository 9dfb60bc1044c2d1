"""Signals: the immutable messages that travel between neurons."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from hal9.layer import Layer

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class IdGenerator:
    """Unique ids that cost a counter increment, not a uuid4, on the per-hop path.

    A random per-generator prefix keeps ids from different processes (and different
    servers in distributed mode) apart; the counter keeps them unique inside one.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):010x}"


new_id = IdGenerator()


@dataclass(frozen=True, slots=True)
class Signal:
    """One message from a source to a target neuron.

    Attributes:
        id: unique id of this signal.
        trace_id: the id of the request it belongs to, shared by every signal of it (the
            request's first signal has it as its ``id`` too).
        parent_id: the signal whose processing produced this one; None for the request itself.
            The chain of parent ids is the path that feedback walks back.
        source: the neuron that produced it, or ``"client"`` for a request.
        target: the neuron it is addressed to.
        layer: the target's layer.
        content: the payload: whatever the source neuron returned.
        metadata: read-only annotations.
        created_at: wall-clock time of creation (seconds since the epoch).
    """

    id: str
    trace_id: str
    parent_id: str | None
    source: str
    target: str
    layer: Layer
    content: Any
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        # Frozen all the way down: a caller's dict is copied behind a read-only view.
        if type(self.metadata) is not MappingProxyType:
            object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def child(self, *, source: str, target: str, layer: Layer, content: Any) -> Signal:
        """A new signal produced by processing this one: same trace, parent link kept."""
        # Once per hop, so built without the frozen dataclass's __init__ (nine
        # object.__setattr__ calls, two default factories, __post_init__): the slots are
        # filled through their descriptors, at a fraction of the cost. The result is the same frozen Signal.
        signal: Signal = object.__new__(Signal)
        set_id, set_trace, set_parent, set_source, set_target, set_layer, set_content, set_meta, set_time = _SLOTS
        set_id(signal, new_id())
        set_trace(signal, self.trace_id)
        set_parent(signal, self.id)
        set_source(signal, source)
        set_target(signal, target)
        set_layer(signal, layer)
        set_content(signal, content)
        set_meta(signal, _EMPTY)
        set_time(signal, time.time())
        return signal


_SLOTS: tuple[Callable[[Signal, Any], None], ...] = tuple(getattr(Signal, f.name).__set__ for f in fields(Signal))


current_signal: ContextVar[Signal | None] = ContextVar("hal9_current_signal", default=None)
"""The signal being processed by the current task; logs read its trace id from here."""
