"""What can travel between servers: JSON content round-trips, anything else fails clearly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal9.errors import NotTransportable
from hal9.layer import Layer
from hal9.network import codec
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def signal_with(content: Any) -> Signal:
    return Signal("s1", "t1", "p1", "plan", "design", Layer.L3, content, {"k": "v"}, 123.5)


@given(json_values)
def test_json_content_arrives_as_it_was_sent(content: Any) -> None:
    received, sender = codec.decode_signal(codec.encode_signal(signal_with(content), "a"))
    assert sender == "a"
    assert received == signal_with(content)


@pytest.mark.parametrize("content", [{1, 2}, b"bytes", float("nan"), {1: "int key"}, object()])
def test_content_that_is_not_json_is_refused_with_a_clear_error(content: Any) -> None:
    with pytest.raises(NotTransportable, match="only JSON values can"):
        codec.encode_signal(signal_with(content), "a")


def test_a_result_with_outputs_that_are_not_json_carries_an_error_instead() -> None:
    hop = Hop("s1", None, "design", Layer.L3, "success", 1.0, 0.5)
    error = BranchError("design", "s0", "ValueError", "bad")
    result = codec.decode_result(codec.encode_result("s1", [{1, 2}], [error], [hop]))
    assert result.outputs == ()
    assert result.hops == (hop,)
    assert result.errors[0] == error
    assert result.errors[1].error == "NotTransportable"


@pytest.mark.parametrize("data", [b"not json", b"[]", b'{"v": 99}', b'{"v": 1}', b'{"v": 1, "id": 3}'])
def test_malformed_messages_are_refused(data: bytes) -> None:
    for decode in (codec.decode_signal, codec.decode_result, codec.decode_heartbeat, codec.decode_ack):
        with pytest.raises(ValueError, match=r"."):
            decode(data)  # type: ignore[operator]
