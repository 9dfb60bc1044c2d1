"""The cluster's spend of one mode, as stored in the ``budget`` bucket: period spends and reservations.

One JSON document holds, for the current UTC hour, day and month, the period's start and its
spend per model label, and every call in flight anywhere as a reservation ``{id: [cost,
expires_at]}`` (see :mod:`hal9.llm.shared_budget`, which reads and writes it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hal9.llm.budget import PERIODS, period_start


@dataclass(slots=True)
class SpendDocument:
    """The shared spend of one mode: per period its start and spend per model; the reservations."""

    periods: dict[str, tuple[float, dict[str, float]]] = field(default_factory=dict)
    reservations: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def decode(cls, raw: bytes | None) -> SpendDocument:
        """The document of a stored value (None or empty: a new one, no spend)."""
        if not raw:
            return cls()
        data = json.loads(raw)
        periods = {
            str(p): (float(v["start"]), {str(m): float(c) for m, c in v["by_model"].items()})
            for p, v in data.get("periods", {}).items()
        }
        reservations = {str(k): (float(v[0]), float(v[1])) for k, v in data.get("reservations", {}).items()}
        return cls(periods, reservations)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "periods": {p: {"start": s, "by_model": m} for p, (s, m) in self.periods.items()},
                "reservations": {k: [c, e] for k, (c, e) in self.reservations.items()},
            },
            separators=(",", ":"),
        ).encode()

    def roll(self, now: float) -> None:
        """Start the periods that have begun since the document was written (at zero).

        A start later than this server's clock says is kept: another server's clock is ahead.
        """
        for period in PERIODS:
            start = period_start(period, now)
            stored = self.periods.get(period)
            if stored is None or stored[0] < start:
                self.periods[period] = (start, {})

    def drop_expired(self, now: float) -> None:
        """Forget the reservations whose holders did not settle them in time (crashed servers)."""
        self.reservations = {k: v for k, v in self.reservations.items() if v[1] > now}

    def spent(self, period: str) -> float:
        stored = self.periods.get(period)
        return sum(stored[1].values()) if stored is not None else 0.0

    def reserved(self, now: float) -> float:
        return sum(cost for cost, expires in self.reservations.values() if expires > now)

    def add_spend(self, model: str, cost: float) -> None:
        for period in PERIODS:
            by_model = self.periods[period][1]
            by_model[model] = by_model.get(model, 0.0) + cost
