"""A circuit breaker around the real API, so a dead API fails fast instead of piling up calls.

closed: calls go through; ``failures`` consecutive failures open it.
open: calls fail at once with :class:`~hal9.errors.LLMCircuitOpen` for ``cooldown`` seconds.
half_open: after the cooldown one call goes through as a probe (the others still fail
fast); its success closes the breaker, its failure opens it for another cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import structlog

from hal9.errors import LLMCircuitOpen

log = structlog.get_logger("hal9.llm")

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of the real API and decides whether a call may go.

    Args:
        failures: consecutive failures that open the breaker.
        cooldown: seconds open before a probe is let through.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> State:
        """The state a call arriving now would meet (an open breaker past its cooldown is half open)."""
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def acquire(self) -> None:
        """Let a call go, or raise :class:`LLMCircuitOpen`; a call let go must end in exactly one of
        :meth:`success`, :meth:`failure` or :meth:`release`."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probing:
            self._transition("half_open")
            self._probing = True
            return
        raise LLMCircuitOpen(max(self.cooldown - (self._clock() - self._opened_at), 0.0))

    def success(self) -> None:
        self._probing = False
        self._failures = 0
        if self._state != "closed":
            self._transition("closed")

    def failure(self) -> None:
        self._probing = False
        self._failures += 1
        if self._state == "half_open" or (self._state == "closed" and self._failures >= self.threshold):
            self._opened_at = self._clock()
            self._transition("open")

    def release(self) -> None:
        """The call ended without telling anything about the API (cancelled): free the probe slot."""
        if self._probing:
            self._probing = False
            self._state = "open"  # still past its cooldown, so the next call probes

    def _transition(self, state: State) -> None:
        emit = log.warning if state == "open" else log.info
        emit("llm.breaker", state=state, previous=self._state, consecutive_failures=self._failures)
        self._state = state
