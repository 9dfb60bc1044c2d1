"""Errors that name a state: every error HAL9 raises on purpose, in one place.

Each is small and specific so callers can catch exactly what they handle, and every one is a
:class:`Hal9Error`; the HTTP server maps them to statuses in one place (``hal9.server.errors``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "VIOLATION_TYPES",
    "AuthConflict",
    "AuthError",
    "AuthNotFound",
    "AuthNotRunning",
    "BudgetExceeded",
    "ConfigError",
    "FeedbackTooEarly",
    "Hal9Error",
    "InvalidAuthInput",
    "InvalidCredentials",
    "InvalidFeedback",
    "InvalidMemoryEntry",
    "LLMAuthError",
    "LLMBadRequest",
    "LLMBadResponse",
    "LLMCircuitOpen",
    "LLMError",
    "LLMRateLimited",
    "LLMTimeout",
    "LLMUnavailable",
    "MailboxFull",
    "MemoryIndexBusy",
    "MemoryNotRunning",
    "NetworkUnavailable",
    "NeuronNotFound",
    "NeuronStopped",
    "NoEntryNeuron",
    "NotAuthenticated",
    "NotTransportable",
    "PeerUnavailable",
    "PermissionDenied",
    "RemoteRejected",
    "RuntimeNotRunning",
    "SandboxViolation",
    "ServiceUnavailable",
    "TooManyAttempts",
    "ToolCallFailed",
    "ToolError",
    "TopologyError",
    "TraceNotFound",
    "ViolationType",
]


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
    """No request with this trace id is known (never existed, or evicted from the bounded history)."""

    def __init__(self, trace_id: str) -> None:
        super().__init__(f"no request with trace id {trace_id!r}")
        self.trace_id = trace_id


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


# -- memory ---------------------------------------------------------------------------------


class InvalidMemoryEntry(Hal9Error, ValueError):
    """An entry was refused before storing: empty or oversized content, an unknown kind, a bad importance."""


class MemoryNotRunning(Hal9Error):
    """The memory service is not started (or is stopping) and takes no operations."""


class MemoryIndexBusy(Hal9Error):
    """Another process holds the memory's search index: one process at a time uses a memory database."""


# -- tools ----------------------------------------------------------------------------------

#: Why the sandbox refused a call; a closed set, so it is a bounded metric label.
#: path_traversal: a path leaves the root (``..``, absolute, symlink, NUL, encoded forms);
#: forbidden_command: a command or argument the shell policy refuses;
#: forbidden_host: web_fetch to a non-public address, a host not allowed, or a non-http(s) URL;
#: forbidden_tool: a tool the caller's layer may not use.
ViolationType = Literal["path_traversal", "forbidden_command", "forbidden_host", "forbidden_tool"]
VIOLATION_TYPES: tuple[ViolationType, ...] = ("path_traversal", "forbidden_command", "forbidden_host", "forbidden_tool")


class ToolError(Hal9Error):
    """A tool call failed (bad input, a limit, an I/O error); the caller gets the message."""


class SandboxViolation(ToolError):
    """The sandbox refused a call before anything ran.

    Args:
        violation_type: one of :data:`VIOLATION_TYPES`.
        message: what was refused and why, for the caller.
    """

    def __init__(self, violation_type: ViolationType, message: str) -> None:
        super().__init__(f"{violation_type}: {message}")
        self.violation_type: ViolationType = violation_type


# -- learning -------------------------------------------------------------------------------


class InvalidFeedback(Hal9Error, ValueError):
    """A feedback's score is not a number in [0, 1]."""


class FeedbackTooEarly(Hal9Error):
    """Feedback on a request that has not finished: its path is not complete yet."""

    def __init__(self, trace_id: str) -> None:
        super().__init__(f"request {trace_id!r} has not finished; give feedback once its result is in")
        self.trace_id = trace_id


# -- auth: ``hal9.server.errors`` maps each to its HTTP status ------------------------------
# Messages are safe to show a client: they never contain a password, token or key, and a
# refused login never says whether the user exists.


class AuthError(Hal9Error):
    """Base class of the auth errors."""


class NotAuthenticated(AuthError):
    """No credentials, or credentials that are invalid, expired, revoked or of the wrong type (401)."""


class InvalidCredentials(NotAuthenticated):
    """A login with an unknown user, a disabled user or a wrong password: one message for all three."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class PermissionDenied(AuthError):
    """The principal is authenticated but its role lacks the permission (403)."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"this needs the permission {permission!r}, which your role does not have")
        self.permission = permission


class TooManyAttempts(AuthError):
    """Too many failed logins for this user or from this address; retry after ``retry_after`` seconds (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed login attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class AuthConflict(AuthError):
    """A user with this name exists already (409)."""


class AuthNotFound(AuthError):
    """No such user or API key (404)."""


class InvalidAuthInput(AuthError, ValueError):
    """A username, password, role or expiry was refused before anything was stored (422)."""


class AuthNotRunning(AuthError):
    """The auth service is not started (503)."""
