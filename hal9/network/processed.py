"""The results of signals this server processed for others, kept in the cluster's JetStream.

The receiver of a remote signal records the branch's result here (acknowledged by JetStream)
before it publishes it. A sender re-sends a signal until its result comes; if the receiver was
killed after it processed the signal, the re-send finds the result here after the restart: it
is answered ``duplicate`` and the stored result is published again, instead of processing the
signal a second time (and paying its LLM calls and tool effects twice).

Kept in the cluster's bucket ``processed`` (key: the signal id), not in the receiver's SQLite:
it lives on the engine the signals travel on, so a receiver started again on a new machine
(or with a lost disk) still dedupes, and it needs no second durable store beside JetStream.
Bounded by the bucket's TTL (``network.processed_retention``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol, runtime_checkable

import structlog

try:
    import nats.errors
    import nats.js.errors
    from nats.js.kv import KeyValue
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("distributed mode needs nats-py: pip install 'hal9[distributed]'") from exc

log = structlog.get_logger("hal9.network")

#: The bucket's name (the cluster state service prefixes it with the cluster's).
BUCKET = "processed"
#: Signal ids that can be keys; the runtime's ids are hex. Another id is deduped in memory only.
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: Errors of a JetStream call.
_FAILED = (nats.errors.Error, TimeoutError, OSError)


@runtime_checkable
class SharedBuckets(Protocol):
    """What this module needs of the cluster's state service (:class:`hal9.cluster.ClusterState`).

    A protocol, so that the network finds that service without importing the cluster package,
    which builds on the network's connection settings.
    """

    async def key_value(self, bucket: str, *, history: int = 1, ttl: float | None = None, **config: Any) -> KeyValue:
        """The cluster's bucket ``bucket``, created on first use."""
        ...


class ProcessedSignals:
    """Signal id -> the encoded result of its branch, in the cluster's ``processed`` bucket.

    Args:
        state: the cluster's state service (entered before :meth:`open`).
        retention: seconds a result is kept (the bucket's TTL).
        delivery_timeout: ``network.delivery_timeout``: how long a first delivery is retried.
    """

    def __init__(self, state: SharedBuckets, retention: float, delivery_timeout: float) -> None:
        self._state = state
        self.retention = retention
        self.delivery_timeout = delivery_timeout
        self._kv: KeyValue | None = None
        #: When this run opened the store (monotonic): see :meth:`worth_asking`.
        self.opened_at = 0.0

    async def open(self) -> None:
        self._kv = await self._state.key_value(BUCKET, ttl=self.retention)
        self.opened_at = time.monotonic()

    def worth_asking(self, resend: bool) -> bool:
        """Whether a signal not in this run's memory may have been processed by an earlier run.

        A re-send may be, at any time. A first delivery (or its retries, which wait for an ack) is
        attempted for at most ``network.delivery_timeout`` after it was first sent; an earlier run
        can only have processed it if it was sent before this run began, so past that long after
        this run's start, such a signal is new and the lookup is skipped: the hot path pays
        nothing for it.
        """
        return resend or time.monotonic() - self.opened_at < self.delivery_timeout

    def close(self) -> None:
        self._kv = None

    async def get(self, signal_id: str) -> bytes | None:
        """The stored result of ``signal_id``, or None (never processed here, aged out, or the store failed)."""
        kv = self._kv
        if kv is None or not _KEY.match(signal_id):
            return None
        try:
            entry = await kv.get(signal_id)
        except nats.js.errors.KeyNotFoundError:
            return None
        except _FAILED as exc:
            # Not knowing is not a reason to refuse the signal: it is processed (at least once).
            log.warning("network.processed_read_failed", error=repr(exc))
            return None
        return entry.value or None

    async def put(self, signal_id: str, result: bytes) -> bool:
        """Record ``result`` (acknowledged by JetStream); False when it could not be (logged)."""
        kv = self._kv
        if kv is None or not _KEY.match(signal_id):
            return False
        try:
            await kv.put(signal_id, result)
        except _FAILED as exc:
            log.warning("network.processed_write_failed", error=repr(exc))
            return False
        return True
