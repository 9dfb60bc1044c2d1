"""Memory across a cluster: every server keeps its own store and index, fed with what the others stored.

Each server stores in its own SQLite and searches its own index (recall stays local and fast).
In a cluster with shared state, every entry a server stores is also published to the cluster's
memory stream (``HAL9_<cluster>_memory``, subjects ``hal9.<cluster>.state.memory.<server>``,
bounded by ``memory.shared_max_age_seconds`` and ``memory.shared_max_bytes``) by
:class:`~hal9.memory.publisher.EntryPublisher`, behind the stores; and each server's durable
consumer (named for the server and its database) imports the others' entries into its SQLite
(:class:`~hal9.memory.importer.EntryImporter`), from where its index takes them in.

A forget is shared (:mod:`hal9.memory.shared_forgets`): the entry is deleted on every server that
holds it. Retention and eviction act on the server that runs them: each server's store is
bounded on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite
import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.cluster.consumer import DurableConsumer, ensure_stream, subject_token
from hal9.cluster.state import ClusterState
from hal9.config import MemoryConfig
from hal9.errors import MemoryNotRunning
from hal9.memory.database import MemoryDatabase, open_reader
from hal9.memory.importer import EntryImporter
from hal9.memory.publisher import EntryPublisher
from hal9.memory.retention import Forgetting
from hal9.memory.shared_forgets import apply_forgets, forget_here
from hal9.memory.writer import WriteRequest
from hal9.support.background import service_tasks

if TYPE_CHECKING:
    from hal9.runtime.runtime import Runtime

log = structlog.get_logger("hal9.memory")

#: Messages one fetch takes.
FETCH_BATCH = 64
#: A message not acknowledged this long comes again (a batch waits for the writer, under load for a
#: while; one delivered to a fetch that a stopping server left behind on NATS waits this long).
ACK_WAIT_SECONDS = 10.0
#: Repeats of a message within this window are dropped by the stream (by message id).
DUPLICATE_WINDOW_SECONDS = 120.0


def cluster_state(runtime: Runtime) -> ClusterState | None:
    """The runtime's cluster state service, if it has one."""
    return runtime.services.get(ClusterState)


class MemoryReplication:
    """Publishes this server's entries to the memory stream and imports the other servers'.

    Args:
        state: the cluster state service.
        settings: the ``[memory]`` section (the stream's bounds, the longest entry).
    """

    def __init__(self, state: ClusterState, settings: MemoryConfig) -> None:
        self._state = state
        self._settings = settings
        self._token = subject_token(state.server_id)
        self._stream_name: str | None = None
        self.publisher: EntryPublisher | None = None
        self.importer: EntryImporter | None = None
        self.consumer: DurableConsumer | None = None
        #: This database's origin (``<server_id>/<identity>``), once running.
        self.origin: str | None = None

    def stored(self, requests: Sequence[WriteRequest]) -> None:
        """Requests committed: wake the publisher if any stored entries of this server."""
        if self.publisher is not None and any(request.origins is None for request in requests):
            self.publisher.wake()

    async def forget(self, database: MemoryDatabase, forgetting: Forgetting, entry_id: int) -> int:
        """Delete entry ``entry_id`` here and have every other server delete it too; how many went here.

        Raises:
            MemoryNotRunning: replication has not started.
        """
        if self.origin is None or self.publisher is None:
            raise MemoryNotRunning("the memory's replication is not running")
        removed = await forget_here(database, forgetting, entry_id, self.origin)
        if removed:
            self.publisher.wake()
        return removed

    async def _stream(self) -> str:
        if self._stream_name is None:
            state, settings = self._state, self._settings
            self._stream_name = await state.stream(
                "memory",
                [state.subject("memory", "*")],
                max_age=settings.shared_max_age_seconds,
                max_bytes=settings.shared_max_bytes,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        return self._stream_name

    async def run(
        self,
        database: MemoryDatabase,
        path: Path,
        write: Callable[[WriteRequest], Awaitable[None]],
        forgetting: Forgetting,
        identity: str,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Publish and import until cancelled.

        Args:
            database: the memory's database.
            path: its file (the replication reads through connections of its own).
            write: submits a write request to the memory's writer.
            forgetting: keeps the memory coherent with what a delete removed.
            identity: the database's identity (with the server id, the origin of its entries).
        """
        state = self._state
        origin = f"{state.server_id}/{identity}"
        await ensure_stream(self._stream)
        publish_reader = await open_reader(path)
        try:
            import_reader = await open_reader(path)
        except BaseException:
            await _close(publish_reader)
            raise
        try:
            subject = state.subject("memory", self._token)
            self.publisher = EntryPublisher(
                state,
                database,
                publish_reader,
                self._stream,
                subject,
                origin,
                keep_forgotten=self._settings.shared_max_age_seconds,
            )
            forget = partial(
                apply_forgets, database, forgetting, origin=origin, keep=self._settings.shared_max_age_seconds
            )
            self.importer = EntryImporter(import_reader, write, forget, origin, self._settings.max_content_chars)
            self.consumer = DurableConsumer(
                state,
                self._stream,
                state.subject("memory", "*"),
                # Named for the server and its database: the consumer's position is what this
                # database has imported, so a server that starts on a new one imports anew.
                f"{self._token}_{identity[:16]}",
                self.importer.handle,
                batch=FETCH_BATCH,
                ack_wait=ACK_WAIT_SECONDS,
                inactive_threshold=self._settings.shared_max_age_seconds,
            )
            async with service_tasks() as tasks:
                await tasks.start(self.publisher.run)
                await tasks.start(self.consumer.run)
                self.origin = origin
                log.info("memory.shared", origin=origin, subject=state.subject("memory", self._token))
                task_status.started()
                await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await _close(import_reader)
                await _close(publish_reader)


async def _close(connection: aiosqlite.Connection) -> None:
    try:
        await connection.close()
    except Exception:
        log.warning("memory.close_failed", exc_info=True)
