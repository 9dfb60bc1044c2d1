"""A service's background work: a task group entered at start and left at stop, tracked for idleness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup

log = structlog.get_logger("hal9.service")


class BackgroundTasks:
    """A service's task group: work spawned into it is counted for :meth:`wait_idle`.

    :meth:`enter` and :meth:`leave` must nest like ``async with`` (same task): the runtime
    calls the service's ``start`` and ``stop`` so.

    Args:
        failure_event: the log event of spawned work that raised (it is logged, never raised).
    """

    def __init__(self, failure_event: str = "service.task_failed") -> None:
        self._failure_event = failure_event
        self._tasks: TaskGroup | None = None
        self._busy = 0
        self._idle = anyio.Event()
        self._idle.set()

    @property
    def running(self) -> bool:
        """Entered and not yet left."""
        return self._tasks is not None

    @property
    def group(self) -> TaskGroup | None:
        """The entered task group, for work that needs it itself (``start``); None when not entered."""
        return self._tasks

    async def enter(self) -> None:
        """Enter the task group."""
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks

    async def leave(self) -> None:
        """Cancel the work still in progress and leave the task group (nothing happens if not entered)."""
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        tasks.cancel_scope.cancel()
        await tasks.__aexit__(None, None, None)

    async def wait_idle(self) -> None:
        """Wait until no spawned work is running."""
        while self._busy:
            await self._idle.wait()

    def spawn(self, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``work`` in the task group, tracked by :meth:`wait_idle` (dropped when not entered)."""
        tasks = self._tasks
        if tasks is None:
            return
        self._busy += 1
        if self._idle.is_set():
            self._idle = anyio.Event()
        tasks.start_soon(self._tracked, work, args)

    async def _tracked(self, work: Callable[..., Awaitable[None]], args: tuple[Any, ...]) -> None:
        # The task inherited the context of whoever spawned it (a neuron's task, with its ids bound).
        structlog.contextvars.clear_contextvars()
        try:
            await work(*args)
        except Exception:  # background work never takes the service down
            log.exception(self._failure_event)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()
