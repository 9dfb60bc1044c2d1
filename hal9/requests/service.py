"""``RequestLog``: every request the API accepts, recorded durably before it is answered.

One interface, two stores: a ``requests`` table in ``data_dir/hal9.db`` on a single server
(:mod:`hal9.requests.sqlite`), the cluster's JetStream bucket when the cluster's state service
runs (:mod:`hal9.requests.jetstream`), where any server answers for any request.

The API records a request (:meth:`RequestLog.accept`) before it runs it and before it answers
202; when it ends, its result is written behind (:meth:`RequestLog.on_trace_finished`). A request
sent with ``wait`` hands out its id with its result, and its client has that: it is recorded
only if it outlives ``server.request_timeout``, as accepted, before the 504 gives out its id. What a
crash can lose is only that last write: such a request reads as interrupted, not as unknown.
At start the service marks its own earlier runs' unfinished records failed ``Interrupted``:
they are not resumed, since running them again would repeat LLM spend and tool side effects
that their clients cannot see.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

import structlog

from hal9.config import Config
from hal9.requests.record import (
    RequestRecord,
    RequestStoreUnavailable,
    interrupted_view,
    pending_view,
    valid_id,
)
from hal9.runtime.service import Service
from hal9.support.background import BackgroundTasks

if TYPE_CHECKING:
    from hal9.cluster.state import ClusterState
    from hal9.runtime.runtime import Runtime
    from hal9.runtime.trace import TraceResult

log = structlog.get_logger("hal9.requests")

#: The runtime's SQLite file in ``data_dir``, shared with the auth tables and the spend ledger.
DATABASE_FILE = "hal9.db"

#: Turns a finished request into the JSON the API answers with (the server's ``SignalView``).
Encode = Callable[["TraceResult"], dict[str, Any]]


class RequestStore(Protocol):
    """What the two stores have in common."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def run(self) -> None: ...
    async def accept(self, record: RequestRecord) -> None: ...
    async def flush(self) -> None: ...
    def finish(self, record: RequestRecord) -> None: ...
    def discard(self, request_id: str) -> None: ...
    async def get(self, request_id: str) -> RequestRecord | None: ...
    async def run_is_current(self, record: RequestRecord, instance: str) -> bool: ...
    async def interrupt_previous(self, instance: str) -> int: ...


class RequestLog(Service):
    """The durable record of the requests the API accepts.

    Args:
        server_id: this server's id (a cluster's records say which server holds them).
        encode: a finished request's result as the JSON the API answers with.
        database: the SQLite file of a single server; unused when the cluster's state runs.
        retention: seconds a record is kept (``server.requests_retention``).
        max_rows: records the SQLite store keeps at most (``server.requests_max_rows``).
    """

    name = "requests"

    def __init__(
        self, server_id: str, encode: Encode, *, database: Path | None, retention: float, max_rows: int
    ) -> None:
        self.server_id = server_id
        self.encode = encode
        self.database = database
        self.retention = retention
        self.max_rows = max_rows
        #: This run's id: a record ``accepted`` by another run of this server was interrupted.
        self.instance = os.urandom(8).hex()
        self._cluster: ClusterState | None = None
        self._store: RequestStore | None = None
        # Records accepted by this run and not yet ended, by id: what a request's end rewrites.
        self._open: dict[str, RequestRecord] = {}
        self._background = BackgroundTasks("requests.task_failed")

    @classmethod
    def from_config(cls, config: Config) -> Self:
        raise TypeError("RequestLog needs the server's result encoding: build it with hal9.requests.request_log()")

    def on_attached(self, runtime: Runtime) -> None:
        if runtime.config.network.shared:
            from hal9.cluster.state import ClusterState

            self._cluster = runtime.services.get(ClusterState)

    def _running_store(self) -> RequestStore:
        # A method, not a property named like a protocol's member: ``isinstance(service, Memory)``
        # (how services are found) reads every member it checks, and a raising one would escape it.
        if self._store is None:
            raise RequestStoreUnavailable("the request store is not running")
        return self._store

    @property
    def kind(self) -> str:
        """``jetstream`` or ``sqlite``: where the records are kept."""
        return "jetstream" if self._cluster is not None else "sqlite"

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Open the store, mark earlier runs' unfinished records interrupted, run the writer."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        store = self._build()
        await store.open()
        async with self._background:
            group = self._background.group
            assert group is not None
            group.start_soon(store.run)
            try:
                interrupted = await store.interrupt_previous(self.instance)
                log.info("requests.started", store=self.kind, interrupted=interrupted, instance=self.instance)
                self._store = store
                yield self
            finally:
                self._store = None
                # Before the background tasks are cancelled: the ends still queued are written first.
                await store.close()

    def _build(self) -> RequestStore:
        if self._cluster is not None:
            from hal9.requests.jetstream import JetStreamRequests

            return JetStreamRequests(
                self._cluster,
                self.server_id,
                self.instance,
                self.retention,
                self._background,
                gone_after=self._cluster.settings.delivery_timeout,
            )
        if self.database is None:
            raise ValueError("a RequestLog without the cluster's state needs a database file")
        from hal9.requests.sqlite import SQLiteRequests

        return SQLiteRequests(self.database, self.retention, self.max_rows)

    # -- the API's side -----------------------------------------------------------------------

    async def accept(self, request_id: str) -> None:
        """Record request ``request_id`` as accepted by this run; returns once it is durable.

        Raises:
            RequestStoreUnavailable: it could not be recorded (then it must not run).
        """
        record = RequestRecord(request_id, "accepted", self.server_id, self.instance, time.time())
        await self._running_store().accept(record)
        self._open[request_id] = record

    async def flush(self) -> None:
        """Wait until every request end written behind so far is stored (for tests, and a clean stop)."""
        await self._running_store().flush()

    def discard(self, request_id: str) -> None:
        """The request recorded by :meth:`accept` was refused after all (the runtime did not take it)."""
        if self._open.pop(request_id, None) is not None and self._store is not None:
            self._store.discard(request_id)

    def on_trace_finished(self, result: TraceResult) -> None:
        """Write the end of a request this run accepted (behind: the caller does not wait)."""
        record = self._open.pop(result.id, None)
        if record is None or self._store is None:
            return
        self._store.finish(record.finished(self.encode(result), result.finished_at or time.time()))

    async def lookup(self, request_id: str) -> dict[str, Any] | None:
        """The stored view of a request no longer in memory (its SignalView JSON), or None if unknown.

        An ``accepted`` record of a run that is over answers failed ``Interrupted``; one whose run
        still goes on (another server's, or this run's end not yet written) answers pending.

        Raises:
            RequestStoreUnavailable: the store did not answer.
        """
        if not valid_id(request_id):
            return None
        store = self._running_store()
        record = await store.get(request_id)
        if record is None:
            return None
        if record.result is not None:
            return record.result
        if await store.run_is_current(record, self.instance):
            return pending_view(record)
        return interrupted_view(record, record.created_at)


def request_log(config: Config, encode: Encode) -> dict[str, Service]:
    """The request log a server runs, by service name: none without ``data_dir`` or the cluster's state."""
    if config.data_dir is None and not config.network.shared:
        return {}
    database = None if config.data_dir is None else config.data_dir / DATABASE_FILE
    settings = config.server
    return {
        RequestLog.name: RequestLog(
            config.server_id,
            encode,
            database=database,
            retention=settings.requests_retention,
            max_rows=settings.requests_max_rows,
        )
    }
