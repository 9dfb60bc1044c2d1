"""Signals are immutable messages; children keep the trace and the parent link."""

from __future__ import annotations

import dataclasses

import pytest

from hal9 import Layer, Signal
from hal9.runtime.signal import IdGenerator


def request(**metadata: object) -> Signal:
    return Signal("s1", "s1", None, "client", "top", Layer.L4, "content", metadata)


def test_signal_fields_cannot_be_reassigned() -> None:
    signal = request()
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.content = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.metadata = {}  # type: ignore[misc]


def test_metadata_is_read_only_even_when_a_dict_was_passed() -> None:
    given = {"user": "ada"}
    signal = Signal("s1", "s1", None, "client", "top", Layer.L4, "content", given)
    with pytest.raises(TypeError):
        signal.metadata["user"] = "eve"  # type: ignore[index]
    given["user"] = "changed by the caller"
    assert signal.metadata == {"user": "ada"}


def test_default_metadata_is_empty_and_read_only() -> None:
    signal = Signal("s1", "s1", None, "client", "top", Layer.L4, "content")
    assert signal.metadata == {}
    with pytest.raises(TypeError):
        signal.metadata["x"] = 1  # type: ignore[index]


def test_child_keeps_the_trace_links_to_its_parent_and_gets_a_new_id() -> None:
    parent = request(user="ada")
    child = parent.child(source="top", target="below", layer=Layer.L3, content="part")
    assert child.trace_id == parent.trace_id
    assert child.parent_id == parent.id
    assert child.id != parent.id
    assert (child.source, child.target, child.layer, child.content) == ("top", "below", Layer.L3, "part")
    assert child.metadata == {}


def test_ids_are_unique_within_a_generator_and_apart_between_generators() -> None:
    first, second = IdGenerator(), IdGenerator()
    ids = [first() for _ in range(1000)] + [second() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert first()[:12] != second()[:12]
