"""A server's durable consumer of one cluster stream: it takes what the other servers published, at least once.

JetStream keeps the consumer's position on the NATS server (a durable consumer named for this
server), so a server that was stopped, or cut off from NATS, or a NATS server that restarted,
resumes where it was: nothing published while it was away is missed (within the stream's limits).
A message is acknowledged by the handler once its effect is committed; one the handler leaves
unacknowledged comes again after the consumer's ``ack_wait``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable

import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.cluster.backoff import Backoff
from hal9.cluster.state import ClusterState

try:
    import nats.errors
    import nats.js.errors
    from nats.aio.msg import Msg
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.client import JetStreamContext
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("cluster mode needs nats-py: pip install 'hal9[distributed]'") from exc

__all__ = ["RETRYABLE", "DurableConsumer", "Handler", "Msg", "ensure_stream", "subject_token"]

log = structlog.get_logger("hal9.cluster")

#: Errors that a later attempt may not meet (NATS away or reconnecting, a slow answer).
RETRYABLE = (nats.errors.Error, TimeoutError, OSError)
#: A fetch waits this long for a first message before asking again. Short: a NATS that restarts
#: forgets the waiting fetch, so this is also how long a consumer may wait after a restart.
FETCH_SECONDS = 1.0
#: Every this many idle fetches, the consumer is checked to still exist.
CHECK_EVERY = 60
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

#: Takes a fetched batch; acknowledges each message once its effect is committed.
Handler = Callable[[list[Msg]], Awaitable[None]]


def subject_token(server_id: str) -> str:
    """``server_id`` as one subject token and a consumer name: letters, digits, ``_`` and ``-`` only.

    A server id with other characters (``.`` and ``:`` are allowed in ids) keeps its safe
    characters and gets a digest of the whole, so two ids never share a token.
    """
    if _TOKEN.fullmatch(server_id):
        return server_id
    digest = hashlib.sha256(server_id.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', server_id)}-{digest}"


async def ensure_stream(stream: Callable[[], Awaitable[str]], timeout: float = 5.0) -> None:
    """Create a stream at a service's start, so that what is published from then on has a place.

    A NATS that does not answer within ``timeout`` does not hold up the start: the publishing and
    consuming loops create the stream when they first reach NATS.
    """
    with anyio.move_on_after(timeout):
        try:
            await stream()
        except RETRYABLE as exc:
            log.warning("cluster.stream_not_created", error=type(exc).__name__, detail=str(exc)[:200])


class DurableConsumer:
    """Fetches batches from this server's durable consumer of a stream and hands them to a handler, forever.

    Args:
        state: the cluster state service (its JetStream context).
        stream: creates (or finds) the stream; returns its JetStream name.
        subject: the consumer's filter subject.
        durable: the consumer's name (one per server: :func:`subject_token` of its id).
        handle: takes each batch.
        batch: most messages one fetch takes.
        ack_wait: seconds an unacknowledged message waits before it comes again.
        inactive_threshold: seconds after which NATS removes the consumer of a server that stopped coming.
    """

    def __init__(
        self,
        state: ClusterState,
        stream: Callable[[], Awaitable[str]],
        subject: str,
        durable: str,
        handle: Handler,
        *,
        batch: int,
        ack_wait: float,
        inactive_threshold: float,
    ) -> None:
        self._state = state
        self._stream = stream
        self._subject = subject
        self._durable = durable
        self._handle = handle
        self._batch = batch
        self._ack_wait = ack_wait
        self._inactive = inactive_threshold
        #: Batches handled (tests and status).
        self.batches = 0
        self.failures = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Subscribe (again after any failure) and hand every fetched batch to the handler."""
        task_status.started()
        backoff = Backoff()
        subscription: JetStreamContext.PullSubscription | None = None
        idle = 0
        while True:
            try:
                if subscription is None:
                    subscription = await self._subscribe()
                try:
                    messages = await subscription.fetch(self._batch, timeout=FETCH_SECONDS)
                except TimeoutError:
                    idle += 1
                    if backoff.failing or idle % CHECK_EVERY == 0:
                        # A fetch also times out when NATS lost the consumer (a store wiped): check it is there.
                        await self._state.jetstream.consumer_info(await self._stream(), self._durable)
                    backoff.succeeded()
                    continue
                idle = 0
                if backoff.succeeded():
                    log.info("cluster.consumer_resumed", consumer=self._durable, subject=self._subject)
                await self._handle(messages)
                self.batches += 1
            except RETRYABLE as exc:
                self.failures += 1
                if backoff.failed():
                    error, detail = type(exc).__name__, str(exc)[:200]
                    log.warning("cluster.consumer_failed", subject=self._subject, error=error, detail=detail)
                if isinstance(exc, nats.js.errors.NotFoundError) and subscription is not None:
                    # The stream or the consumer is gone (a NATS that lost its store): make them again.
                    await self._unsubscribe(subscription)
                    subscription = None
                await backoff.wait()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        stream = await self._stream()
        config = ConsumerConfig(
            durable_name=self._durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_ack_pending=self._batch * 4,
            inactive_threshold=self._inactive,
        )
        return await self._state.jetstream.pull_subscribe(
            self._subject, durable=self._durable, stream=stream, config=config
        )

    @staticmethod
    async def _unsubscribe(subscription: JetStreamContext.PullSubscription) -> None:
        with contextlib.suppress(*RETRYABLE):
            await subscription.unsubscribe()
