"""Feedback as the feedback stream carries it: what a server on the request's path needs to learn its part.

The server that received the feedback has the request's whole path (remote branches bring their
hops back with their results) and computes the cycle's errors; the message carries both, with
the failure a lesson would answer. A server on the path applies the part of its own neurons
(:meth:`~hal9.learning.LearningService.apply_shared`). What another server sends is input: every
field is checked and bounded when read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from hal9.layer import Layer
from hal9.learning.feedback import MAX_COMMENT_CHARS
from hal9.learning.patterns import PATTERN_TYPES
from hal9.learning.writer import Failure
from hal9.runtime.trace import Hop, TraceResult
from hal9.support.messages import load_message

VERSION = 1
MAX_ID_CHARS = 128
#: Most hops a message carries (``runtime.max_path_hops`` is 1000 by default).
MAX_HOPS = 10_000
MAX_TEXT_CHARS = 4_000
_STATUSES = frozenset(("success", "error"))
_LAYERS = frozenset(layer.value for layer in Layer)


@dataclass(frozen=True, slots=True)
class SharedFeedback:
    """One feedback on a request, for every server on its path.

    Attributes:
        origin: the server that received the feedback (and holds the request).
        trace_id: the request's id.
        score: the feedback's score in [0, 1].
        success: whether it counts as a success (the receiving server's ``learning.success_score``).
        created_at: when the request was accepted (an adjustment is judged by later requests).
        path: the request's hops (their status, layer and times are not carried: 0).
        errors: the error the cycle gives each neuron of the path.
        failure: what a lesson would answer.
    """

    origin: str
    trace_id: str
    score: float
    success: bool
    created_at: float
    path: tuple[Hop, ...]
    errors: dict[str, float]
    failure: Failure

    @classmethod
    def of(
        cls,
        origin: str,
        result: TraceResult,
        score: float,
        success: bool,
        errors: Mapping[str, float],
        failure: Failure,
    ) -> Self:
        """The feedback on ``result`` that server ``origin`` received, and the cycle's errors it computed."""
        return cls(origin, result.id, score, success, result.created_at, result.path, dict(errors), failure)

    def encode(self) -> bytes:
        failure = self.failure
        return json.dumps(
            {
                "v": VERSION,
                "origin": self.origin,
                "trace_id": self.trace_id,
                "score": self.score,
                "success": self.success,
                "created_at": self.created_at,
                "path": [[h.signal_id, h.parent_id, h.neuron_id, h.layer.value, h.status] for h in self.path],
                "errors": self.errors,
                "failure": [failure.pattern, failure.description, failure.comment, failure.output],
            },
            ensure_ascii=False,
        ).encode()


def branches(path: Sequence[Hop], local: Collection[str]) -> list[tuple[Hop, str]]:
    """The hops of ``local`` neurons, each with the id of the branch it ran in on this server.

    A branch that came from another server runs here as a request of its own, keyed by the id of
    the signal that brought it: the first hop of a run of local hops whose parent ran elsewhere.
    """
    by_signal = {hop.signal_id: hop for hop in path}
    roots: dict[str, str] = {}

    def root(hop: Hop) -> str:
        chain: list[Hop] = []
        seen: set[str] = set()  # a path from another server could hold a loop of parents
        while hop.signal_id not in roots:
            chain.append(hop)
            seen.add(hop.signal_id)
            parent = by_signal.get(hop.parent_id) if hop.parent_id is not None else None
            if parent is None or parent.neuron_id not in local or parent.signal_id in seen:
                roots[hop.signal_id] = hop.signal_id
                break
            hop = parent
        found = roots[hop.signal_id]
        for walked in chain:
            roots[walked.signal_id] = found
        return found

    return [(hop, root(hop)) for hop in path if hop.neuron_id in local]


def decode(data: bytes) -> SharedFeedback:
    """Read a message of the feedback stream.

    Raises:
        ValueError: not a valid message of this format.
    """
    message = load_message(data, VERSION, "not a feedback message of version 1")
    score: Any = message.get("score")
    created_at: Any = message.get("created_at")
    success: Any = message.get("success")
    if not _number(score) or not 0 <= score <= 1 or not _number(created_at) or not isinstance(success, bool):
        raise ValueError("score, created_at or success is missing or invalid")
    return SharedFeedback(
        origin=_text(message.get("origin"), MAX_ID_CHARS, "origin"),
        trace_id=_text(message.get("trace_id"), MAX_ID_CHARS, "trace_id"),
        score=float(score),
        success=success,
        created_at=float(created_at),
        path=_path(message.get("path")),
        errors=_errors(message.get("errors")),
        failure=_failure(message.get("failure")),
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any, limit: int, name: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValueError(f"{name} must be text of 1 to {limit} characters")
    return value


def _path(value: Any) -> tuple[Hop, ...]:
    if not isinstance(value, list) or len(value) > MAX_HOPS:
        raise ValueError(f"path must be a list of at most {MAX_HOPS} hops")
    hops = []
    for item in value:
        if not isinstance(item, list) or len(item) != 5:
            raise ValueError("a hop is [signal_id, parent_id, neuron_id, layer, status]")
        signal_id, parent_id, neuron_id, layer, status = item
        if layer not in _LAYERS or status not in _STATUSES:
            raise ValueError("a hop's layer or status is invalid")
        hops.append(
            Hop(
                _text(signal_id, MAX_ID_CHARS, "signal_id"),
                None if parent_id is None else _text(parent_id, MAX_ID_CHARS, "parent_id"),
                _text(neuron_id, MAX_ID_CHARS, "neuron_id"),
                Layer(layer),
                status,
                0.0,
                0.0,
            )
        )
    return tuple(hops)


def _errors(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or len(value) > MAX_HOPS:
        raise ValueError("errors must be an object of neuron ids to numbers")
    errors = {}
    for neuron_id, error in value.items():
        if not _number(error) or not 0 <= error <= 1:
            raise ValueError("an error must be a number from 0 to 1")
        errors[_text(neuron_id, MAX_ID_CHARS, "neuron id")] = float(error)
    return errors


def _failure(value: Any) -> Failure:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError("failure is [pattern, description, comment, output]")
    pattern, description, comment, output = value
    known = next((p for p in PATTERN_TYPES if p == pattern), None)
    if known is None:
        raise ValueError(f"unknown pattern type {pattern!r}"[:200])
    return Failure(
        known,
        _text(description, MAX_TEXT_CHARS, "description"),
        _text(comment, MAX_COMMENT_CHARS, "comment", optional=True) or None,
        _text(output, MAX_TEXT_CHARS, "output", optional=True) or None,
    )
