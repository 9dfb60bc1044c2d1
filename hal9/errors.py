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


class LLMRateLimited(LLMError):
    """The LLM API kept answering 429 (rate limited) through the client's retries."""


class LLMTimeout(LLMError):
    """The LLM API did not answer within the configured timeout (after the client's retries)."""


class LLMUnavailable(LLMError):
    """The LLM API is overloaded (529), failing (5xx) or unreachable, after the client's retries."""


class LLMCircuitOpen(LLMUnavailable):
    """The circuit breaker is open after repeated failures: the call failed fast, nothing was sent."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"the LLM API circuit breaker is open; next probe in {retry_in:.1f}s")
        self.retry_in = retry_in


class LLMBadRequest(LLMError):
    """The LLM API refused the request itself (4xx other than auth and rate limits); not retried."""


class LLMAuthError(LLMError):
    """The LLM API refused the credentials (401/403): check ANTHROPIC_API_KEY."""


class LLMBadResponse(LLMError):
    """The LLM API answered with a body that is not a valid Messages API response."""


class ToolCallFailed(Hal9Error):
    """A tool call a neuron made was refused or failed, and the neuron answered without it.

    Not raised by the tool loop: it is reported to the learning service with
    :meth:`~hal9.runtime.neuron.Neuron.note_failure`, so a refused call teaches a lesson
    although the request itself succeeded.
    """

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"tool call {tool} refused or failed: {message[:300]}")
        self.tool = tool


class BudgetExceeded(LLMError):
    """A call's worst-case cost would take spend past a budget; it was refused before sending.

    Not retried: the budget only frees up when its period ends.
    """

    def __init__(self, period: str, limit: float, spent: float, needed: float) -> None:
        super().__init__(
            f"LLM budget per {period} exceeded: ${spent:.4f} spent or reserved of ${limit:.4f}, "
            f"this call may cost up to ${needed:.4f}"
        )
        self.period = period
        self.limit = limit
        self.spent = spent
        self.needed = needed


# -- distributed mode ---------------------------------------------------------------------


class NotTransportable(Hal9Error):
    """A signal's content (or a result) cannot travel to another server: it is not JSON."""


class PeerUnavailable(Hal9Error):
    """A signal for a neuron on another server could not be delivered within the configured time."""

    def __init__(self, server_id: str, neuron_id: str, waited: float, reason: str) -> None:
        super().__init__(
            f"server {server_id!r} (neuron {neuron_id!r}) did not take the signal within {waited:g}s: {reason}"
        )
        self.server_id = server_id
        self.neuron_id = neuron_id
        self.waited = waited


class RemoteRejected(Hal9Error):
    """Another server refused a signal for good (say, it has no neuron with that id)."""


class NetworkUnavailable(Hal9Error):
    """The NATS server of distributed mode cannot be reached (at start-up)."""


class NoEntryNeuron(TopologyError):
    """No neuron of this server takes requests: in distributed mode they enter on another server."""
