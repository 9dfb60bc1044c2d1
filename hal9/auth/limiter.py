"""Failed-login limits per username and per client address, in bounded memory.

Each key (a username or an address) keeps the times of its recent failures, at most
``limit`` of them, in a table of at most ``max_keys`` entries: the least recently failed
key is forgotten first, so a flood of invented usernames costs bounded memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque


class FailureWindow:
    """Refuses a key with ``limit`` failures within ``window`` seconds until the oldest ages out.

    Args:
        limit: failures allowed within the window.
        window: seconds a failure counts.
        max_keys: keys remembered at most.
    """

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Seconds until ``key`` may try again; 0 if it may now."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self.limit:
            return 0
        now = time.monotonic() if now is None else now
        wait = failures[0] + self.window - now
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def fail(self, key: str, now: float | None = None) -> None:
        """Record a failure of ``key``."""
        now = time.monotonic() if now is None else now
        failures = self._failures.pop(key, None)
        if failures is None:
            failures = deque(maxlen=self.limit)
        failures.append(now)
        self._failures[key] = failures
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
