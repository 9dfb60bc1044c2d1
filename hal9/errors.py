"""Errors that name a state of the runtime.

Each is small and specific so callers can catch exactly what they handle; the HTTP
server maps them to statuses in one place (``hal9.server.errors``).
"""

from __future__ import annotations


class Hal9Error(Exception):
    """Base class of every error HAL9 raises on purpose."""


class ConfigError(Hal9Error):
    """A configuration file or environment override is invalid; the message names the key."""


class MailboxFull(Hal9Error):
    """A neuron's mailbox stayed full for the whole send timeout."""

    def __init__(self, neuron_id: str, timeout: float) -> None:
        super().__init__(f"mailbox of neuron {neuron_id!r} stayed full for {timeout:g}s")
        self.neuron_id = neuron_id
        self.timeout = timeout


class NeuronStopped(Hal9Error):
    """A signal was sent to a neuron that is stopping or has stopped."""

    def __init__(self, neuron_id: str) -> None:
        super().__init__(f"neuron {neuron_id!r} is not running")
        self.neuron_id = neuron_id


class RuntimeNotRunning(Hal9Error):
    """The runtime is not started yet, or is draining and accepts no new requests."""


class TopologyError(Hal9Error):
    """A connection or neuron would make the network invalid (unknown id, duplicate, cycle)."""


class NeuronNotFound(TopologyError):
    """No neuron has this id."""

    def __init__(self, neuron_id: str) -> None:
        super().__init__(f"no neuron with id {neuron_id!r}")
        self.neuron_id = neuron_id


class ServiceUnavailable(Hal9Error):
    """A neuron asked for a service the runtime was not given."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no {name!r} service is configured for this runtime")
        self.name = name


class TraceNotFound(Hal9Error):
    """No trace with this signal id is known (never existed, or evicted from the bounded history)."""

    def __init__(self, signal_id: str) -> None:
        super().__init__(f"no signal with id {signal_id!r}")
        self.signal_id = signal_id


class LLMError(Hal9Error):
    """An LLM call failed."""
