"""A service's background work: a task group living as long as the service's ``async with``, tracked for idleness."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from anyio import AsyncContextManagerMixin
from anyio.abc import TaskGroup

log = structlog.get_logger("hal9.service")


@asynccontextmanager
async def service_tasks() -> AsyncIterator[TaskGroup]:
    """A task group for a service's own tasks, cancelled when the block ends.

    What the block raises comes out as it went in: an anyio task group wraps an exception of
    its block in an ``ExceptionGroup``, and a service's ``async with`` must not change what its
    user's code raised. It is raised again once the tasks are done.
    """
    raised: BaseException | None = None
    async with anyio.create_task_group() as tasks:
        try:
            yield tasks
        except BaseException as exc:  # noqa: BLE001 - raised again, unwrapped, below
            raised = exc
        finally:
            tasks.cancel_scope.cancel()
    if raised is not None:
        raise raised


class BackgroundTasks(AsyncContextManagerMixin):
    """A service's task group: work spawned into it is counted for :meth:`wait_idle`.

    ``async with background:`` runs it; work still running when the block ends is cancelled.

    Args:
        failure_event: the log event of spawned work that raised (it is logged, never raised).
    """

    def __init__(self, failure_event: str = "service.task_failed") -> None:
        self._failure_event = failure_event
        self._tasks: TaskGroup | None = None
        self._busy = 0
        self._idle = anyio.Event()
        self._idle.set()

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[BackgroundTasks, None]:
        async with service_tasks() as tasks:
            self._tasks = tasks
            try:
                yield self
            finally:
                self._tasks = None

    @property
    def running(self) -> bool:
        """Inside its ``async with``."""
        return self._tasks is not None

    @property
    def group(self) -> TaskGroup | None:
        """The task group, for work that needs it itself (``start``); None outside the ``async with``."""
        return self._tasks

    async def wait_idle(self) -> None:
        """Wait until no spawned work is running."""
        while self._busy:
            await self._idle.wait()

    def spawn(self, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``work`` in the task group, tracked by :meth:`wait_idle` (dropped outside the ``async with``)."""
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
