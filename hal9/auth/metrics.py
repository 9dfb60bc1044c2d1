"""The auth service's state read at scrape time: principals seen lately and active API keys.

The service keeps both tables current on the event loop; ``collect()`` only counts them,
so a scrape never queries the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.metrics import families as fam

#: A principal counts as an active user for this long after it was last authenticated.
ACTIVE_WINDOW_SECONDS = 15 * 60
#: Principals remembered at most (they are bounded by the users and keys that exist; this is a backstop).
MAX_TRACKED_PRINCIPALS = 100_000


class AuthState(Collector):
    """Exposes ``hal9_auth_users_active`` and ``hal9_auth_api_keys_active``.

    ``seen`` maps a principal (``user:<id>`` or ``key:<id>``) to when it was last
    authenticated; ``keys`` maps each unrevoked API key's public id to its expiry.
    """

    def __init__(self) -> None:
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.keys: dict[str, float | None] = {}

    def saw(self, principal: str, now: float | None = None) -> None:
        """Note that ``principal`` was authenticated now (on the event loop)."""
        now = time.monotonic() if now is None else now
        self.seen[principal] = now
        self.seen.move_to_end(principal)
        # Oldest first: forget what left the window, and anything beyond the backstop.
        horizon = now - ACTIVE_WINDOW_SECONDS
        while self.seen and (len(self.seen) > MAX_TRACKED_PRINCIPALS or next(iter(self.seen.values())) < horizon):
            self.seen.popitem(last=False)

    def users_active(self, now: float | None = None) -> int:
        """Principals seen within the window; reads only (a scrape may run in another thread)."""
        horizon = (time.monotonic() if now is None else now) - ACTIVE_WINDOW_SECONDS
        return sum(1 for last in list(self.seen.values()) if last >= horizon)

    def keys_active(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(1 for expires in list(self.keys.values()) if expires is None or expires > now)

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(fam.AUTH_USERS_ACTIVE.name, fam.AUTH_USERS_ACTIVE.help),
            GaugeMetricFamily(fam.AUTH_API_KEYS_ACTIVE.name, fam.AUTH_API_KEYS_ACTIVE.help),
        ]

    def collect(self) -> Iterable[Metric]:
        users = GaugeMetricFamily(fam.AUTH_USERS_ACTIVE.name, fam.AUTH_USERS_ACTIVE.help)
        users.add_metric([], float(self.users_active()))
        keys = GaugeMetricFamily(fam.AUTH_API_KEYS_ACTIVE.name, fam.AUTH_API_KEYS_ACTIVE.help)
        keys.add_metric([], float(self.keys_active()))
        return [users, keys]
