"""The request store of a cluster: the JetStream key-value bucket ``requests``, one for every server.

Keys (every value ages out after the retention, the bucket's TTL):

- ``req.<id>``: the record (:class:`~hal9.requests.record.RequestRecord` JSON), read by any server.
- ``open.<server>.<id>``: a marker while the request runs on ``<server>``, so a server's start
  finds its own unfinished records without reading the whole bucket.
- ``run.<server>``: the server's current run (instance id) and when it last said so, so any
  server tells an ``accepted`` record of a run that is over (interrupted: a later run, or no word
  for ``gone_after`` seconds) from one still running elsewhere.

An accept publishes the record and its marker at once and returns when JetStream has
acknowledged both (stored on disk by the NATS server). Concurrent accepts are pipelined on the
one connection, so they need no grouping. A request's end is written behind: the record, then the
marker's removal, in a task nobody waits for.

Server ids may hold ``:``, which a key may not: keys carry them hex-encoded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import anyio
import structlog

from hal9.cluster.state import ClusterState
from hal9.requests.record import RequestRecord, RequestStoreUnavailable
from hal9.support.background import BackgroundTasks

try:
    import nats.errors
    import nats.js.errors
    from nats.js.kv import KeyValue
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("cluster mode needs nats-py: pip install 'hal9[distributed]'") from exc

log = structlog.get_logger("hal9.requests")

#: The bucket's name (the cluster state service prefixes it with the cluster's).
BUCKET = "requests"
#: Errors of a JetStream call.
_FAILED = (nats.errors.Error, TimeoutError, OSError)


def server_key(server_id: str) -> str:
    """A server id as a key token (hex: a key allows no ``:``)."""
    return server_id.encode().hex()


class JetStreamRequests:
    """Request records in the cluster's ``requests`` bucket.

    Args:
        state: the cluster's state service (entered).
        server_id: this server's id.
        instance: this run's id.
        retention: seconds a record is kept (the bucket's TTL).
        background: where the written-behind ends run.
        gone_after: seconds without a refresh of a run's key after which its server counts as gone
            (``network.delivery_timeout``, the network's own bound for a silent server).
        clock: Unix time now (injectable for tests).
    """

    def __init__(
        self,
        state: ClusterState,
        server_id: str,
        instance: str,
        retention: float,
        background: BackgroundTasks,
        *,
        gone_after: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self.gone_after = gone_after
        self._clock = clock
        self._server = server_key(server_id)
        self._instance = instance
        self.retention = retention
        self._background = background
        self._kv: KeyValue | None = None

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise RequestStoreUnavailable("the request store is not open")
        return self._kv

    async def open(self) -> None:
        try:
            self._kv = await self._state.key_value(BUCKET, ttl=self.retention)
            await self.mark_run()
        except _FAILED as exc:
            raise RequestStoreUnavailable(f"cannot open the cluster's request store: {exc!r}") from exc

    async def mark_run(self) -> None:
        """Say which run of this server is the current one, and that it is alive now."""
        value = json.dumps({"instance": self._instance, "at": self._clock()})
        await self.kv.put(f"run.{self._server}", value.encode())

    async def run(self) -> None:
        """Say this run is alive several times per ``gone_after`` (until cancelled)."""
        while True:
            await anyio.sleep(self.gone_after / 6)
            try:
                await self.mark_run()
            except _FAILED as exc:
                log.warning("requests.mark_run_failed", error=repr(exc))

    async def close(self) -> None:
        """Nothing of its own to close: the ends still being written are given a few seconds."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
            await self.flush()

    async def flush(self) -> None:
        """Wait until every end and discard queued so far is written (or failed, logged)."""
        await self._background.wait_idle()

    # -- writing ------------------------------------------------------------------------

    async def accept(self, record: RequestRecord) -> None:
        """Publish the record and its marker; returns once JetStream acknowledged both.

        Raises:
            RequestStoreUnavailable: JetStream did not acknowledge in time, or refused.
        """
        kv = self.kv
        if not self._state.connected:
            # Refused at once rather than after the publish's timeout: the client retries elsewhere.
            raise RequestStoreUnavailable("the request could not be recorded: NATS is not connected")
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(kv.put, f"open.{self._server}.{record.id}", b"")
                await kv.put(f"req.{record.id}", record.to_json())
        except* _FAILED as group:
            raise RequestStoreUnavailable(
                f"the request could not be recorded: {group.exceptions[0]!r}"
            ) from group.exceptions[0]

    def finish(self, record: RequestRecord) -> None:
        """Write a request's end behind: the record, then its marker's removal."""
        self._background.spawn(self._finish, record)

    def discard(self, request_id: str) -> None:
        """Forget a record whose request was refused after all."""
        self._background.spawn(self._discard, request_id)

    async def _finish(self, record: RequestRecord) -> None:
        try:
            await self.kv.put(f"req.{record.id}", record.to_json())
            await self.kv.purge(f"open.{self._server}.{record.id}")
        except _FAILED as exc:
            log.error("requests.write_failed", error=repr(exc))

    async def _discard(self, request_id: str) -> None:
        try:
            await self.kv.purge(f"req.{request_id}")
            await self.kv.purge(f"open.{self._server}.{request_id}")
        except _FAILED as exc:
            log.warning("requests.discard_failed", error=repr(exc))

    # -- reading ------------------------------------------------------------------------

    async def get(self, request_id: str) -> RequestRecord | None:
        try:
            entry = await self.kv.get(f"req.{request_id}")
        except nats.js.errors.KeyNotFoundError:
            return None
        except _FAILED as exc:
            raise RequestStoreUnavailable(f"the request store did not answer: {exc!r}") from exc
        if entry.value is None:
            return None
        try:
            return RequestRecord.from_json(entry.value)
        except ValueError as exc:
            log.warning("requests.bad_record", error=str(exc)[:300])
            return None

    async def run_is_current(self, record: RequestRecord, instance: str) -> bool:
        """Whether the run that accepted ``record`` is still its server's current one."""
        if record.instance == instance:
            return True
        try:
            entry = await self.kv.get(f"run.{server_key(record.server_id)}")
        except nats.js.errors.KeyNotFoundError:
            return False  # that server has not run for the whole retention
        except _FAILED as exc:
            raise RequestStoreUnavailable(f"the request store did not answer: {exc!r}") from exc
        if entry.value is None:
            return False
        try:
            run = json.loads(entry.value)
            instance, at = str(run["instance"]), float(run["at"])
        except (ValueError, KeyError, TypeError):
            return False
        # A later run of that server, or none heard of for gone_after: the request was cut short.
        return instance == record.instance and self._clock() - at <= self.gone_after

    async def interrupt_previous(self, instance: str) -> int:
        """Mark this server's records still ``accepted`` by an earlier run failed ``Interrupted``.

        Reads only this server's markers. A record is rewritten only if nothing wrote it since it
        was read (compare-and-set on its revision).

        Raises:
            RequestStoreUnavailable: JetStream did not answer (the server does not start then).
        """
        try:
            return await self._interrupt_previous(instance)
        except _FAILED as exc:
            raise RequestStoreUnavailable(f"cannot read this server's unfinished requests: {exc!r}") from exc

    async def _interrupt_previous(self, instance: str) -> int:
        kv = self.kv
        prefix = f"open.{self._server}."
        now, marked = time.time(), 0
        for request_id in await self._marked(prefix):
            try:
                entry = await kv.get(f"req.{request_id}")
            except nats.js.errors.KeyNotFoundError:
                entry = None
            record = None
            if entry is not None and entry.value is not None:
                try:
                    record = RequestRecord.from_json(entry.value)
                except ValueError as exc:
                    log.warning("requests.bad_record", error=str(exc)[:300])
            if entry is not None and record is not None and record.open and record.instance != instance:
                try:
                    await kv.update(f"req.{request_id}", record.interrupted(now).to_json(), last=entry.revision)
                    marked += 1
                except nats.js.errors.KeyWrongLastSequenceError:
                    pass  # written meanwhile: that write has the last word
            if record is None or not record.open or record.instance != instance:
                await kv.purge(f"{prefix}{request_id}")
        return marked

    async def _marked(self, prefix: str) -> list[str]:
        """The ids of the markers under ``prefix`` (this server's requests not known to have ended)."""
        ids: list[str] = []
        watcher = await self.kv.watch(f"{prefix}>", ignore_deletes=True, meta_only=True)
        # nats-py leaves the watcher's methods untyped.
        try:
            while True:
                entry = await watcher.updates(timeout=self._state.settings.connect_timeout)  # type: ignore[no-untyped-call]
                if entry is None:
                    return ids
                ids.append(entry.key[len(prefix) :])
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
