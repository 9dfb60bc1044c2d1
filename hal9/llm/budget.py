"""Budgets: spend per UTC hour, day and month, reservations for calls in flight, the cost rate.

A call reserves its worst-case cost before it is sent, so concurrent calls cannot pass
the check together and overrun a budget between them; when it ends the reservation is
replaced by what it really cost. Spend is kept in memory for checks and scrapes and
written to the :class:`~hal9.llm.ledger.SpendLedger`, which the next start reads back.

The real service waits for each call's row to be written. The mock, which answers at once,
writes behind: its rows are batched by a task of the tracker's own, at most one transaction per
``WRITE_BEHIND_INTERVAL``, so that no call waits on the disk (the rows of the last interval are
lost if the process dies; a clean stop writes them).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import anyio
import structlog
from anyio.abc import TaskGroup
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.config import BudgetConfig
from hal9.errors import BudgetExceeded
from hal9.llm.ledger import SpendLedger, SpendRow
from hal9.metrics import families as fam

log = structlog.get_logger("hal9.llm")

PERIODS = ("hour", "day", "month")
WINDOW_SECONDS = 3600.0
#: Seconds between two writes of a write-behind tracker: the most spend a crash can lose the rows of.
WRITE_BEHIND_INTERVAL = 0.1


def period_start(period: str, now: float) -> float:
    """The Unix time the UTC calendar ``period`` containing ``now`` began."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "hour":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    elif period == "day":
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elif period == "month":
        moment = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return moment.timestamp()


def period_end(period: str, start: float) -> float:
    """The Unix time the UTC calendar ``period`` that began at ``start`` ends (the next one's start)."""
    if period == "hour":
        return start + 3600.0
    if period == "day":
        return start + 86400.0
    if period == "month":
        moment = datetime.fromtimestamp(start, UTC)
        if moment.month == 12:
            return moment.replace(year=moment.year + 1, month=1).timestamp()
        return moment.replace(month=moment.month + 1).timestamp()
    raise ValueError(f"unknown budget period {period!r}")


class _PeriodSpend:
    """Spend per model label in one calendar period; a new period starts at zero.

    The period's bounds are computed once per period, not per call: every priced LLM call
    (the mock's, at the rate of the whole network) reads and adds to each period.
    """

    __slots__ = ("by_model", "end", "period", "start")

    def __init__(self, period: str, start: float, by_model: dict[str, float] | None = None) -> None:
        self.period = period
        self.start = start
        self.end = period_end(period, start)
        self.by_model = by_model or {}

    def current(self, now: float) -> dict[str, float]:
        # Read-only (scrapes call it from any thread): a stale period reads as empty.
        return self.by_model if self.start <= now < self.end else {}

    def add(self, model: str, cost: float, now: float) -> None:
        if not self.start <= now < self.end:
            self.start = period_start(self.period, now)
            self.end = period_end(self.period, self.start)
            self.by_model = {}
        self.by_model[model] = self.by_model.get(model, 0.0) + cost


@dataclass(slots=True)
class Reservation:
    """A call's worst-case cost, held against the budgets until the call ends.

    ``id`` names it in a shared budget (empty for a tracker of one server); ``settled`` is set
    when :meth:`SpendTracker.record` has replaced it by the real cost.
    """

    cost: float
    id: str = ""
    settled: bool = False


class _Hold:
    """``async with tracker.hold(cost)``: the in-memory reservation, without a generator's overhead."""

    __slots__ = ("_reservation", "_tracker")

    def __init__(self, tracker: SpendTracker, cost: float) -> None:
        self._tracker = tracker
        self._reservation = Reservation(cost)

    async def __aenter__(self) -> Reservation:
        self._tracker._take(self._reservation.cost)
        return self._reservation

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tracker._give_back(self._reservation.cost)


class SpendTracker:
    """Spend, limits and the sliding hour window of one LLM service.

    Args:
        limits: the budget per period (None: no limit).
        ledger: where spend is persisted; None keeps it in memory only.
        clock: Unix time now (injectable for tests).
        write_behind: batch the ledger writes in a task of its own (between :meth:`open` and
            :meth:`close`, called from one task) instead of waiting for each.
    """

    def __init__(
        self,
        limits: BudgetConfig,
        ledger: SpendLedger | None = None,
        clock: Callable[[], float] = time.time,
        *,
        write_behind: bool = False,
    ) -> None:
        # A TOML file cannot say None: ``inf`` is how it says "no limit".
        self.limits: dict[str, float | None] = {
            p: None if getattr(limits, p) in (None, math.inf) else getattr(limits, p) for p in PERIODS
        }
        self.ledger = ledger
        self._clock = clock
        now = clock()
        self._periods = {p: _PeriodSpend(p, period_start(p, now)) for p in PERIODS}
        self._window: deque[tuple[float, float]] = deque()
        self._reserved = 0.0
        self.write_behind = write_behind
        self._pending: list[SpendRow] = []
        self._wake: anyio.Event | None = None
        self._writer: TaskGroup | None = None

    async def open(self) -> None:
        """Open the ledger and load this period's spend and the last hour's calls from it."""
        if self.ledger is None:
            return
        await self.ledger.open()
        now = self._clock()
        for period in PERIODS:
            start = period_start(period, now)
            self._periods[period] = _PeriodSpend(period, start, await self.ledger.spend_by_model(start))
        self._window = deque(await self.ledger.calls_since(now - WINDOW_SECONDS))
        if self.write_behind:
            writer = anyio.create_task_group()
            await writer.__aenter__()
            self._writer, self._wake = writer, anyio.Event()
            writer.start_soon(self._write_loop)

    async def close(self) -> None:
        """Write what is still pending, then close the ledger."""
        writer, self._writer = self._writer, None
        self._wake = None
        if writer is not None:
            writer.cancel_scope.cancel()
            await writer.__aexit__(None, None, None)
        if self.ledger is not None:
            with anyio.CancelScope(shield=True):
                await self._write_pending()
                await self.ledger.close()

    async def _write_loop(self) -> None:
        while self._wake is not None:
            await self._wake.wait()
            self._wake = anyio.Event()  # calls recorded from now on wake the next round
            await self._write_pending()
            # At most one write per interval: the calls of a busy network share one transaction.
            await anyio.sleep(WRITE_BEHIND_INTERVAL)

    async def _write_pending(self) -> None:
        rows, self._pending = self._pending, []
        if not rows or self.ledger is None or not self.ledger.is_open:
            return
        try:
            await self.ledger.add_many(rows)
        except (sqlite3.Error, OSError) as exc:
            # The calls are counted in memory; losing their rows would not unspend them.
            log.error("llm.ledger_write_failed", calls=len(rows), cost=sum(row[4] for row in rows), error=str(exc))

    # -- reading (safe from a scrape thread: no mutation) ------------------------------------

    def spent(self, period: str) -> float:
        return sum(self._periods[period].current(self._clock()).values())

    def spent_by_model(self, period: str) -> dict[str, float]:
        return dict(self._periods[period].current(self._clock()))

    def remaining(self, period: str) -> float:
        """What is left of the period's budget (reservations not deducted); +Inf without a limit."""
        limit = self.limits[period]
        return math.inf if limit is None else max(limit - self.spent(period), 0.0)

    def rate_per_hour(self) -> float:
        """Spend of the last 60 minutes."""
        since = self._clock() - WINDOW_SECONDS
        return sum(cost for at, cost in list(self._window) if at > since)

    @property
    def reserved(self) -> float:
        return self._reserved

    # -- spending (on the event loop) --------------------------------------------------------

    @contextmanager
    def reserve(self, cost: float) -> Iterator[None]:
        """Hold ``cost`` against every budget for the duration of a call (this server's budget only).

        Raises:
            BudgetExceeded: spend plus reservations plus ``cost`` would pass a limit.
        """
        self._take(cost)
        try:
            yield
        finally:
            self._give_back(cost)

    def hold(self, cost: float) -> _Hold:
        """``async with tracker.hold(cost) as reservation:``, what the LLM services use around a call.

        The same check as :meth:`reserve`; a shared budget
        (:class:`~hal9.llm.shared_budget.SharedSpendTracker`) needs the cluster's answer, hence async.
        Pass the reservation to :meth:`record` when the call has cost what it cost.

        Raises:
            BudgetExceeded: spend plus reservations plus ``cost`` would pass a limit.
        """
        return _Hold(self, cost)

    def _take(self, cost: float) -> None:
        for period in PERIODS:
            limit = self.limits[period]
            if limit is None:
                continue
            committed = self.spent(period) + self._reserved
            if committed + cost > limit:
                raise BudgetExceeded(period, limit, committed, cost)
        self._reserved += cost

    def _give_back(self, cost: float) -> None:
        self._reserved = max(self._reserved - cost, 0.0)

    async def record(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        reservation: Reservation | None = None,
    ) -> None:
        """Count a finished call's real cost, in memory at once and then in the ledger.

        ``reservation``, the call's, is marked settled (a shared budget replaces it by ``cost``).
        """
        if reservation is not None:
            reservation.settled = True
        now = self._clock()
        for spend in self._periods.values():
            spend.add(model, cost, now)
        self._window.append((now, cost))
        while self._window and self._window[0][0] <= now - WINDOW_SECONDS:
            self._window.popleft()
        if self.ledger is None:
            return
        if self.write_behind:
            wake = self._wake
            if wake is not None:  # open: the writer task takes it
                self._pending.append((now, model, prompt_tokens, completion_tokens, cost))
                wake.set()
            return
        try:
            await self.ledger.add(now, model, prompt_tokens, completion_tokens, cost)
        except (sqlite3.Error, OSError) as exc:
            # The call succeeded and is counted in memory; losing its answer would not unspend it.
            log.error("llm.ledger_write_failed", model=model, cost=cost, error=str(exc))


class BudgetCollector(Collector):
    """``hal9_claude_cost_rate_dollars_per_hour`` and ``hal9_claude_budget_remaining_dollars``, read at scrape time."""

    def __init__(self, tracker: SpendTracker) -> None:
        #: The tracker read at scrape time (a service that turns shared on start re-points it).
        self.tracker = tracker

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(fam.CLAUDE_COST_RATE.name, fam.CLAUDE_COST_RATE.help),
            GaugeMetricFamily(
                fam.CLAUDE_BUDGET_REMAINING.name,
                fam.CLAUDE_BUDGET_REMAINING.help,
                labels=fam.CLAUDE_BUDGET_REMAINING.labels,
            ),
        ]

    def collect(self) -> Iterable[Metric]:
        rate = GaugeMetricFamily(
            fam.CLAUDE_COST_RATE.name, fam.CLAUDE_COST_RATE.help, value=self.tracker.rate_per_hour()
        )
        remaining = GaugeMetricFamily(
            fam.CLAUDE_BUDGET_REMAINING.name,
            fam.CLAUDE_BUDGET_REMAINING.help,
            labels=fam.CLAUDE_BUDGET_REMAINING.labels,
        )
        for period in PERIODS:
            remaining.add_metric([period], self.tracker.remaining(period))
        return [rate, remaining]
