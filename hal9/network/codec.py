"""What travels between servers, as JSON: signals, branch results, acks and heartbeats.

Transportable content is what JSON carries: ``str``, ``int``, ``float`` (finite), ``bool``,
``None``, lists (tuples arrive as lists) and dicts with string keys, nested. Anything else
raises :class:`~hal9.errors.NotTransportable` on the sending side, so the branch fails
with a clear error instead of arriving altered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hal9.errors import NotTransportable
from hal9.layer import Layer
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop
from hal9.support.messages import load_message

#: Version of the wire format; a message of another version is refused.
WIRE_VERSION = 1

AckStatus = Literal["accepted", "duplicate", "full", "unavailable", "error"]


def _string_keys(value: Any) -> None:
    """json.dumps would turn ``{1: x}`` into ``{"1": x}``: refuse it rather than alter the content."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict key {key!r} is not a string")
            _string_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _string_keys(item)


def _dumps(value: Any, what: str) -> bytes:
    try:
        _string_keys(value)
        return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise NotTransportable(f"{what} cannot be sent to another server (only JSON values can): {exc}") from None


def _loads(data: bytes) -> dict[str, Any]:
    return load_message(data, WIRE_VERSION, "not a HAL9 network message of this version")


def encode_signal(signal: Signal, sender: str) -> bytes:
    """A signal for a neuron on another server; ``sender`` is where its result goes back to."""
    return _dumps(
        {
            "v": WIRE_VERSION,
            "from": sender,
            "id": signal.id,
            "trace_id": signal.trace_id,
            "parent_id": signal.parent_id,
            "source": signal.source,
            "target": signal.target,
            "layer": signal.layer.value,
            "content": signal.content,
            "metadata": dict(signal.metadata),
            "created_at": signal.created_at,
        },
        f"the content of signal {signal.id} for {signal.target!r}",
    )


def decode_signal(data: bytes) -> tuple[Signal, str]:
    """The signal and the server that sent it; raises ValueError on a malformed message."""
    message = _loads(data)
    try:
        signal = Signal(
            str(message["id"]),
            str(message["trace_id"]),
            None if message["parent_id"] is None else str(message["parent_id"]),
            str(message["source"]),
            str(message["target"]),
            Layer(message["layer"]),
            message["content"],
            dict(message["metadata"]),
            float(message["created_at"]),
        )
        return signal, str(message["from"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed signal message: {exc!r}") from None


def encode_ack(status: AckStatus, instance: str, message: str = "") -> bytes:
    return _dumps({"v": WIRE_VERSION, "status": status, "instance": instance, "message": message}, "an ack")


def decode_ack(data: bytes) -> tuple[AckStatus, str, str]:
    """(status, the receiver's instance id, message)."""
    message = _loads(data)
    status = message.get("status")
    if status not in ("accepted", "duplicate", "full", "unavailable", "error"):
        raise ValueError(f"unknown ack status {status!r}")
    return status, str(message.get("instance", "")), str(message.get("message", ""))


@dataclass(frozen=True, slots=True)
class BranchResult:
    """How a branch sent to another server ended there."""

    signal_id: str
    outputs: tuple[Any, ...]
    errors: tuple[BranchError, ...]
    hops: tuple[Hop, ...]


def encode_result(signal_id: str, outputs: Sequence[Any], errors: Sequence[BranchError], hops: Sequence[Hop]) -> bytes:
    """A branch's result; outputs that are not JSON become an error of the branch instead."""
    error_rows = [[e.neuron_id, e.signal_id, e.error, e.message] for e in errors]
    hop_rows = [
        [h.signal_id, h.parent_id, h.neuron_id, h.layer.value, h.status, h.started_at, h.duration] for h in hops
    ]
    body: dict[str, Any] = {"v": WIRE_VERSION, "signal": signal_id, "errors": error_rows, "hops": hop_rows}
    try:
        return _dumps({**body, "outputs": list(outputs)}, f"the outputs of signal {signal_id}")
    except NotTransportable as exc:
        error_rows.append(["network", signal_id, "NotTransportable", str(exc)[:1000]])
        return _dumps({**body, "outputs": []}, "a result")


def decode_result(data: bytes) -> BranchResult:
    message = _loads(data)
    try:
        return BranchResult(
            str(message["signal"]),
            tuple(message["outputs"]),
            tuple(BranchError(str(n), str(s), str(e), str(m)) for n, s, e, m in message["errors"]),
            tuple(
                Hop(str(sid), None if pid is None else str(pid), str(nid), Layer(layer), status, float(at), float(d))
                for sid, pid, nid, layer, status, at, d in message["hops"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed result message: {exc!r}") from None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A server announcing itself: its id, this run's instance id, and the neurons it runs."""

    server_id: str
    instance: str
    neurons: tuple[str, ...]


def encode_heartbeat(heartbeat: Heartbeat) -> bytes:
    return _dumps(
        {
            "v": WIRE_VERSION,
            "server": heartbeat.server_id,
            "instance": heartbeat.instance,
            "neurons": list(heartbeat.neurons),
        },
        "a heartbeat",
    )


def decode_heartbeat(data: bytes, max_neurons: int = 10_000) -> Heartbeat:
    message = _loads(data)
    try:
        neurons = message["neurons"]
        if not isinstance(neurons, list):
            raise TypeError("neurons is not a list")
        return Heartbeat(str(message["server"]), str(message["instance"]), tuple(str(n) for n in neurons[:max_neurons]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed heartbeat: {exc!r}") from None
