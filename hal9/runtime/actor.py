"""Actors: one anyio task reading a bounded mailbox, supervised and restarted on a crash."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Generic, TypeVar

import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.runtime.mailbox import Mailbox

T = TypeVar("T")

log = structlog.get_logger("hal9.actor")


class ActorState(StrEnum):
    """idle -> processing -> idle | error; ``error`` lasts until the next item succeeds."""

    IDLE = "idle"
    PROCESSING = "processing"
    ERROR = "error"


ACTOR_STATES: tuple[ActorState, ...] = tuple(ActorState)


class Actor(ABC, Generic[T]):
    """The base of every actor: mailbox, state, health, lifecycle and supervision.

    Subclasses implement :meth:`_handle`. Everything else, including starting through a
    task group with a readiness handshake and restarting a crashed loop with backoff,
    lives here. The mailbox belongs to the actor, not to its loop, so a restart loses
    nothing that was queued.

    Up to ``concurrency`` items are handled at once, by as many workers reading the mailbox;
    a worker takes an item only when it is free, so the mailbox stays the one bound on what
    waits. With ``concurrency = 1`` items are handled one after another, in order.
    A crash of one item's handling stops the taking of new items; the items already in
    hand are finished, then the loop restarts.

    State is plain attributes written on the event loop; the metrics collector reads
    them at scrape time, which is safe from another thread too (single attribute reads).
    """

    #: Items handled at once (read when the loop starts); None: 1, unless an owner sets a default first.
    concurrency: int | None = None

    def __init__(
        self,
        actor_id: str,
        *,
        mailbox_capacity: int = 64,
        restart_backoff: tuple[float, float] = (0.05, 5.0),
        concurrency: int | None = None,
    ) -> None:
        if concurrency is not None:
            self.concurrency = concurrency
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        self.id = actor_id
        self.mailbox: Mailbox[T] = Mailbox(actor_id, mailbox_capacity)
        self.state = ActorState.IDLE
        self.running = False
        self.restarts = 0
        self._backoff_initial, self._backoff_max = restart_backoff
        self._crash_streak = 0
        self._stopped = anyio.Event()

    @property
    def healthy(self) -> bool:
        """True while the actor loop runs (not crashed and backing off, not stopped)."""
        return self.running

    @property
    def queue_size(self) -> int:
        return self.mailbox.size

    @abstractmethod
    async def _handle(self, item: T) -> None:
        """Process one item. Exceptions here are crashes of the loop, not of the item."""

    def _on_crash(self, item: T, exc: Exception) -> None:
        """The item in hand when the loop crashed; subclasses fail it so nothing is lost silently."""

    def _set_state(self, state: ActorState) -> None:
        self.state = state

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The supervised loop; start it with ``await task_group.start(actor.run)``.

        Returns once the mailbox is closed and drained.
        """
        self.running = True
        task_status.started()
        try:
            while True:
                try:
                    await self._loop()
                    return
                except Exception:
                    self.running = False
                    self.restarts += 1
                    self._set_state(ActorState.ERROR)
                    delay = min(self._backoff_initial * 2**self._crash_streak, self._backoff_max)
                    self._crash_streak += 1
                    log.exception("actor.crashed", actor_id=self.id, restart_in=delay, restarts=self.restarts)
                    await anyio.sleep(delay)
                    self.running = True
                    log.info("actor.restarted", actor_id=self.id, restarts=self.restarts)
        finally:
            self.running = False
            self._stopped.set()

    async def _loop(self) -> None:
        concurrency = self.concurrency or 1
        if concurrency > 1:
            await self._loop_concurrently(concurrency)
            return
        mailbox = self.mailbox
        while True:
            try:
                item = await mailbox.get()
            except anyio.EndOfStream:
                return
            try:
                await self._handle(item)
            except Exception as exc:
                self._on_crash(item, exc)
                raise
            self._crash_streak = 0

    async def _loop_concurrently(self, concurrency: int) -> None:
        """``concurrency`` workers, each taking the next item when it is free; return when closed and all are done.

        Workers rather than a task per item: taking an item then costs what it costs the
        one-at-a-time loop.

        Raises:
            Exception: the first crash of an item's handling, once every item in hand has finished.
        """
        crashes: list[Exception] = []
        taking: set[anyio.CancelScope] = set()
        async with anyio.create_task_group() as workers:
            for _ in range(concurrency):
                workers.start_soon(self._work, crashes, taking)
        if crashes:
            raise crashes[0]

    async def _work(self, crashes: list[Exception], taking: set[anyio.CancelScope]) -> None:
        """One worker: take an item, handle it, again, until the mailbox ends or an item's handling crashes.

        The worker's one cancel scope is in ``taking`` only while it waits for an item, and a
        crash cancels only the scopes in ``taking``: a worker is never cancelled while it
        handles an item. A cancelled wait takes nothing (the mailbox hands a granted item back),
        so the worker just stops. One scope for the worker's life rather than one per item: a
        scope costs more than the rest of taking an item.
        """
        mailbox = self.mailbox
        with anyio.CancelScope() as scope:
            while not crashes:
                taking.add(scope)
                try:
                    item = await mailbox.get()
                except anyio.EndOfStream:
                    return
                finally:
                    taking.discard(scope)
                try:
                    await self._handle(item)
                except Exception as exc:  # noqa: BLE001 - kept, and raised by the loop once the others finish
                    self._on_crash(item, exc)
                    crashes.append(exc)
                    for other in taking:  # the others finish what they hold, and take nothing more
                        other.cancel()
                    return
                self._crash_streak = 0

    async def wait_stopped(self) -> None:
        """Wait until the loop has returned (after :meth:`close` and a drain, or a cancel)."""
        await self._stopped.wait()

    def close(self) -> None:
        """Accept nothing new; the loop ends once the queued items are handled."""
        self.mailbox.close()
