"""Cluster-wide budgets: the spend and the reservations of every server in one JetStream key.

In cluster mode (:class:`~hal9.cluster.state.ClusterState` present) the servers share one spend
document per mode (``real``, ``mock``: the mock's spend never counts against the real API's) in the
key-value bucket ``budget``. It holds, for the current UTC hour, day and month, the period's start
and its spend per model label, and every call in flight anywhere as a reservation ``{id: [cost,
expires_at]}``. One document for the three periods means one compare-and-set checks every limit
at once.

A reservation is checked and added with ``update(key, value, last=revision)``: when another
server wrote in between, the write is refused (wrong last sequence), the document is read again
and the check made again, so N servers together never commit more than a limit. Settling replaces
a reservation by the real cost in the same way.

Each server keeps one writer task that applies every operation waiting at the time in one
compare-and-set (a group commit): concurrent calls of a server cost one write between them, and the
contention on the key is bounded by the number of servers, not of calls. A reservation carries an
expiry (the call's time limit plus :data:`RESERVATION_MARGIN`, renewed while the call runs), so
one held by a server that crashed is dropped from the document once it expires.

A watch on the key keeps a local copy, which the scrape reads without blocking: every server's
``hal9_claude_budget_remaining_dollars`` follows the same document. The cost rate and the cost
counter stay this server's own, and so do its ledger rows (its record of what it spent).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import anyio
import structlog
from anyio.abc import TaskGroup

from hal9.config import BudgetConfig
from hal9.errors import BudgetExceeded, LLMUnavailable, NetworkUnavailable
from hal9.llm.budget import PERIODS, Reservation, SpendTracker, _PeriodSpend, period_start
from hal9.llm.ledger import Mode, SpendLedger
from hal9.llm.spend_document import SpendDocument

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from hal9.cluster.state import ClusterState
    from hal9.runtime.runtime import Runtime

log = structlog.get_logger("hal9.llm")

#: The cluster's key-value bucket of spend documents.
BUCKET = "budget"
#: A document not written for this long ages out: the month it counted has ended by then.
BUCKET_TTL = 32 * 86400.0
#: The most a spend document may take (its reservations are the calls in flight in the cluster).
MAX_DOCUMENT_BYTES = 1 << 20
#: Seconds a reservation outlives its call's time limit: the clock skew and pauses it tolerates.
RESERVATION_MARGIN = 30.0
#: How long one round's reads and compare-and-set may take before the round counts as failed (and is retried).
ROUND_TIMEOUT = 10.0
#: Seconds between two attempts to write settlements while the cluster cannot be reached.
RETRY_DELAY = 0.5

OpKind = Literal["reserve", "settle", "release"]


@dataclass(slots=True)
class _Op:
    """An operation waiting for the writer: reserve, settle (the real cost) or release."""

    kind: OpKind
    id: str
    cost: float
    model: str = ""
    done: anyio.Event | None = None
    error: Exception | None = None
    #: A write of it failed without an answer: it may have landed all the same.
    uncertain: bool = False


class SharedSpendTracker(SpendTracker):
    """A :class:`SpendTracker` whose spend per period and reservations are the cluster's.

    The reading methods (``spent``, ``remaining``, ``reserved``) read the local copy of the shared
    document; ``rate_per_hour`` and the ledger stay this server's.

    Args:
        limits: the budget per period.
        state: the cluster's JetStream connection.
        mode: which document: ``real`` or ``mock``.
        ledger: this server's record of its calls (as without a cluster).
        clock: Unix time now.
        write_behind: settle without waiting for the write (the mock's calls wait on nothing).
        hold_seconds: the longest a call may take; with the margin, a reservation's lifetime.
        wait_seconds: how long a call waits for NATS to take its reservation before it fails as
            unavailable (default ``network.delivery_timeout``).
    """

    def __init__(
        self,
        limits: BudgetConfig,
        state: ClusterState,
        mode: Mode,
        ledger: SpendLedger | None = None,
        clock: Callable[[], float] = time.time,
        *,
        write_behind: bool = False,
        hold_seconds: float = 0.0,
        wait_seconds: float | None = None,
    ) -> None:
        super().__init__(limits, ledger, clock, write_behind=write_behind)
        self.state = state
        #: How long a call waits for NATS to take its reservation: ``network.delivery_timeout``, as a signal waits.
        self.wait_seconds = state.settings.delivery_timeout if wait_seconds is None else wait_seconds
        self.key = mode
        self.lifetime = hold_seconds + RESERVATION_MARGIN
        # A restarted server never takes its earlier run's reservations for its own.
        self._prefix = f"{state.server_id}.{secrets.token_hex(4)}."
        self._next_id = 0
        self._kv: KeyValue | None = None
        self._raw: bytes | None = None
        self._revision = 0
        self._view: dict[str, _PeriodSpend] = {p: _PeriodSpend(p, period_start(p, clock())) for p in PERIODS}
        self._reserved_view = 0.0
        self._ops: list[_Op] = []
        self._held: dict[str, float] = {}
        self._ops_ready = anyio.Event()
        self._adopted = anyio.Event()
        self._unreachable = False
        self._tasks: TaskGroup | None = None

    @classmethod
    def replacing(
        cls, tracker: SpendTracker, state: ClusterState, mode: Mode, hold_seconds: float
    ) -> SharedSpendTracker:
        """The shared tracker that takes the place of ``tracker`` (its limits, ledger and clock)."""
        limits = BudgetConfig.model_validate({p: tracker.limits[p] for p in PERIODS})
        return cls(
            limits,
            state,
            mode,
            tracker.ledger,
            tracker._clock,
            write_behind=tracker.write_behind,
            hold_seconds=hold_seconds,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the ledger and the bucket, read the document, start the writer and the watch."""
        await super().open()
        try:
            self._kv = await self.state.key_value(BUCKET, ttl=BUCKET_TTL, max_value_size=MAX_DOCUMENT_BYTES)
            self._adopt(*await self._read())
        except BaseException:
            with anyio.CancelScope(shield=True):
                await super().close()
            raise
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        tasks.start_soon(self._write_loop_shared)
        tasks.start_soon(self._watch)

    async def close(self) -> None:
        """Stop the tasks, write the settlements still waiting (bounded), then close the ledger."""
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            tasks.cancel_scope.cancel()
            await tasks.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            ops, self._ops = [op for op in self._ops if op.kind != "reserve"], []
            if ops and self._kv is not None:
                await self._round(ops, retry=False)
        # Outside the shield: the base's writer task group was entered outside it (it shields its own write).
        await super().close()

    # -- reading (a scrape's: the local copy) --------------------------------------------------

    def spent(self, period: str) -> float:
        return sum(self._view[period].current(self._clock()).values())

    def spent_by_model(self, period: str) -> dict[str, float]:
        return dict(self._view[period].current(self._clock()))

    @property
    def reserved(self) -> float:
        return self._reserved_view

    # -- spending ------------------------------------------------------------------------------

    def hold(self, cost: float) -> _SharedHold:  # type: ignore[override]
        """Reserve ``cost`` in the cluster's document for the duration of a call.

        Raises:
            BudgetExceeded: the cluster's spend plus reservations plus ``cost`` would pass a limit.
            LLMUnavailable: NATS did not take the reservation within ``wait_seconds``; nothing is sent.
        """
        self._next_id += 1
        return _SharedHold(self, Reservation(cost, f"{self._prefix}{self._next_id}"))

    async def record(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        reservation: Reservation | None = None,
    ) -> None:
        """Count the call in this server's ledger and replace its reservation by ``cost`` in the cluster's."""
        await super().record(model, prompt_tokens, completion_tokens, cost, reservation)
        ident = reservation.id if reservation is not None else ""
        self._held.pop(ident, None)
        op = self._submit("settle", ident, cost, model, wait=not self.write_behind)
        if op.done is not None:
            await op.done.wait()

    def _submit(self, kind: OpKind, ident: str, cost: float, model: str = "", *, wait: bool) -> _Op:
        op = _Op(kind, ident, cost, model, anyio.Event() if wait else None)
        self._ops.append(op)
        self._ops_ready.set()
        return op

    # -- the writer ------------------------------------------------------------------------------

    async def _write_loop_shared(self) -> None:
        while True:
            if not self._ops:
                # Held reservations are renewed at least four times in their lifetime.
                with anyio.move_on_after(self.lifetime / 4 if self._held else None):
                    await self._ops_ready.wait()
            self._ops_ready = anyio.Event()
            ops, self._ops = self._ops, []
            await self._round(ops, retry=True)

    async def _round(self, ops: list[_Op], *, retry: bool) -> None:
        """Apply ``ops`` in one compare-and-set; when NATS cannot be reached, keep them for the next round.

        A reservation then keeps its caller waiting (up to ``wait_seconds``, see :meth:`hold`);
        settlements and releases answer their callers at once and are written when NATS is back.
        """
        try:
            with anyio.fail_after(ROUND_TIMEOUT):
                await self._commit(ops)
        except Exception as exc:  # noqa: BLE001 - any failure to reach NATS: reported, the writer goes on
            if not self._unreachable:  # once per outage, not once per retry
                error_name, detail = type(exc).__name__, str(exc)[:200]
                log.error("llm.shared_budget_unavailable", mode=self.key, error=error_name, detail=detail)
            self._unreachable = True
            reserves = [op for op in ops if op.kind == "reserve"]
            for op in reserves:
                op.uncertain = True
            kept = [_Op(op.kind, op.id, op.cost, op.model, uncertain=True) for op in ops if op.kind != "reserve"]
            if retry:
                self._ops[:0] = reserves + kept
                for op in ops:
                    if op.kind != "reserve" and op.done is not None:
                        op.done.set()
                await anyio.sleep(RETRY_DELAY)
                return
            error = LLMUnavailable(f"the cluster's budget cannot be reached: {type(exc).__name__}")
            for op in reserves:
                op.error = error
            if kept:
                log.error("llm.shared_budget_lost", mode=self.key, settlements=len(kept))
        else:
            if self._unreachable:
                log.info("llm.shared_budget_reachable", mode=self.key)
            self._unreachable = False
        for op in ops:
            if op.done is not None:
                op.done.set()

    async def _commit(self, ops: list[_Op]) -> None:
        kv = self._kv
        assert kv is not None
        if not self.state.connected:
            # Not written into the client's reconnect buffer, to land at some later time.
            raise NetworkUnavailable("NATS is not connected")
        raw, revision, fresh = self._raw, self._revision, False
        while True:
            now = self._clock()
            document = SpendDocument.decode(raw)
            document.roll(now)
            document.drop_expired(now)
            changed = self._apply(document, ops, now)
            refused = [op for op in ops if op.error is not None]
            if refused and not fresh:
                # A refusal is decided on what the cluster holds now, never on a stale copy.
                raw, revision = await self._read()
                fresh = True
                continue
            if not changed:
                break
            encoded = document.encode()
            try:
                revision = await kv.update(self.key, encoded, last=revision)
            except _wrong_last_sequence():
                raw, revision = await self._read()
                fresh = True
                continue
            raw = encoded
            break
        self._adopt(raw, revision)
        for op in refused:
            assert isinstance(op.error, BudgetExceeded)
            refusal = op.error
            log.warning(
                "llm.budget_refused",
                mode=self.key,
                period=refusal.period,
                limit=refusal.limit,
                committed=round(refusal.spent, 6),
                cost=round(refusal.needed, 6),
            )

    def _apply(self, document: SpendDocument, ops: list[_Op], now: float) -> bool:
        """Apply the operations in order; a reservation that would pass a limit gets its refusal."""
        changed = False
        for op in ops:
            op.error = None
            if op.kind == "reserve":
                refusal = self._check(document, op.cost, now)
                if refusal is not None:
                    op.error = refusal
                    continue
                document.reservations[op.id] = (op.cost, now + self.lifetime)
            elif op.kind == "settle":
                held = document.reservations.pop(op.id, None)
                # Without its reservation, a settlement whose earlier write may have landed is that
                # write's repeat: skipped. One never tried before counts, the reservation having
                # expired meanwhile (the call was paid for all the same).
                if held is not None or not op.uncertain:
                    document.add_spend(op.model, op.cost)
            else:
                document.reservations.pop(op.id, None)
            changed = True
        for ident, cost in self._held.items():
            held = document.reservations.get(ident)
            if held is not None and held[1] - now < self.lifetime / 2:
                document.reservations[ident] = (cost, now + self.lifetime)
                changed = True
        return changed

    def _check(self, document: SpendDocument, cost: float, now: float) -> BudgetExceeded | None:
        reserved = document.reserved(now)
        for period in PERIODS:
            limit = self.limits[period]
            if limit is None:
                continue
            committed = document.spent(period) + reserved
            if committed + cost > limit:
                return BudgetExceeded(period, limit, committed, cost)
        return None

    # -- the document ----------------------------------------------------------------------------

    async def _read(self) -> tuple[bytes | None, int]:
        """The stored document and its revision (None and the revision to write after, if none)."""
        import nats.js.errors

        assert self._kv is not None
        try:
            entry = await self._kv.get(self.key)
        except nats.js.errors.KeyNotFoundError as missing:
            # Deleted or aged out: the next write follows the marker, if one was left.
            marker = getattr(missing, "entry", None)
            return None, int(marker.revision) if marker is not None and marker.revision else 0
        return entry.value, int(entry.revision or 0)

    def _adopt(self, raw: bytes | None, revision: int) -> None:
        """Make a document the local copy, if it is newer than the one held."""
        if revision < self._revision:
            return
        self._raw, self._revision = raw, revision
        document = SpendDocument.decode(raw)
        now = self._clock()
        document.roll(now)
        # Replaced whole, never mutated: a scrape in another thread reads a consistent copy.
        self._view = {p: _PeriodSpend(p, document.periods[p][0], document.periods[p][1]) for p in PERIODS}
        self._reserved_view = document.reserved(now)
        adopted, self._adopted = self._adopted, anyio.Event()
        adopted.set()

    async def changed(self) -> None:
        """Return once the local copy has taken a newer document (this server's write or another's)."""
        await self._adopted.wait()

    async def _watch(self) -> None:
        """Follow the document's changes made by the other servers; a watch that fails is started again."""
        while True:
            try:
                await self._follow()
            except Exception as exc:  # noqa: BLE001 - the copy goes stale, the budget's checks do not (they read)
                log.warning("llm.shared_budget_watch_failed", mode=self.key, error=type(exc).__name__)
            await anyio.sleep(RETRY_DELAY)

    async def _follow(self) -> None:
        from nats.js.kv import KV_DEL, KV_PURGE

        assert self._kv is not None
        watcher = await self._kv.watch(self.key)
        try:
            async for entry in watcher:
                if entry is None or entry.revision is None:
                    continue  # the marker after the initial value
                gone = entry.operation in (KV_DEL, KV_PURGE)
                self._adopt(None if gone else entry.value, int(entry.revision))
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated


class _SharedHold:
    """``async with tracker.hold(cost)`` of a shared budget: waits for the cluster's answer."""

    __slots__ = ("_reservation", "_tracker")

    def __init__(self, tracker: SharedSpendTracker, reservation: Reservation) -> None:
        self._tracker = tracker
        self._reservation = reservation

    async def __aenter__(self) -> Reservation:
        tracker, reservation = self._tracker, self._reservation
        if tracker._tasks is None:
            raise LLMUnavailable("the cluster's budget is not open")
        op = tracker._submit("reserve", reservation.id, reservation.cost, wait=True)
        assert op.done is not None
        try:
            with anyio.fail_after(tracker.wait_seconds):
                await op.done.wait()
        except TimeoutError:
            # It may be granted later all the same (it stays queued until NATS answers): given back then.
            tracker._submit("release", reservation.id, 0.0, wait=False)
            raise LLMUnavailable(
                f"the cluster's budget cannot be reached (waited {tracker.wait_seconds:g} s for NATS)"
            ) from None
        except BaseException:
            # Cancelled while the writer may be adding it: take it back (a no-op if it was not).
            tracker._submit("release", reservation.id, 0.0, wait=False)
            raise
        if op.error is not None:
            if isinstance(op.error, LLMUnavailable):
                # The write may land later all the same: its reservation is given back then.
                tracker._submit("release", reservation.id, 0.0, wait=False)
            raise op.error
        tracker._held[reservation.id] = reservation.cost
        return reservation

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        reservation = self._reservation
        if not reservation.settled:
            self._tracker._held.pop(reservation.id, None)
            self._tracker._submit("release", reservation.id, 0.0, wait=False)


def _wrong_last_sequence() -> type[Exception]:
    import nats.js.errors

    return nats.js.errors.KeyWrongLastSequenceError


def shared_tracker(runtime: Runtime | None, tracker: SpendTracker, mode: Mode, hold_seconds: float) -> SpendTracker:
    """``tracker``, or the shared one that replaces it when the runtime keeps the cluster's state.

    Called by the LLM services as they start (every service is attached by then).
    """
    if runtime is None or not runtime.config.network.shared:
        return tracker
    from hal9.cluster.state import ClusterState

    state = runtime.services.get(ClusterState)
    if state is None:
        return tracker
    return SharedSpendTracker.replacing(tracker, state, mode, hold_seconds)
