"""Feedback across a cluster: the server that received it publishes it; every server on the path applies its part.

Feedback arrives at the server that holds the request (``POST /api/v1/signals/{id}/feedback``),
but the request's branches ran on other servers too. That server learns its own part at once and
publishes the feedback to the cluster's feedback stream (``HAL9_<cluster>_feedback``, subjects
``hal9.<cluster>.state.feedback.<server>``, kept ``learning.shared_max_age_seconds``); each
server's durable consumer (named for the server) takes it, also after being away for a while,
and applies the part of its own neurons.

Publishing is off the feedback's path: the feedback waits in a bounded queue until JetStream
acknowledges it, retried while NATS is away; the queue's oldest are given up (counted and
logged) only when it is full.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable

import anyio
import structlog
from anyio.abc import TaskStatus

from hal9.cluster.backoff import Backoff
from hal9.cluster.consumer import RETRYABLE, DurableConsumer, Msg, ensure_stream, subject_token
from hal9.cluster.state import ClusterState
from hal9.config import LearningConfig
from hal9.learning.shared import SharedFeedback, decode
from hal9.support.background import service_tasks

log = structlog.get_logger("hal9.learning")

#: Feedback waiting for JetStream's acknowledgement at most (the oldest is given up past it).
MAX_PENDING = 10_000
#: The feedback stream's size at most.
STREAM_BYTES = 256 * 1024**2
#: Repeats of a message within this window are dropped by the stream (by message id).
DUPLICATE_WINDOW_SECONDS = 120.0
FETCH_BATCH = 64
#: A feedback not acknowledged this long comes again. Short: applying one takes microseconds, and a
#: server that stops may leave a fetch behind on NATS for a moment, whose messages wait this long.
ACK_WAIT_SECONDS = 5.0


class FeedbackRelay:
    """Publishes the feedback this server received; applies what the others received.

    Args:
        state: the cluster state service.
        settings: the ``[learning]`` section.
        apply: applies another server's feedback to this server's neurons.
    """

    def __init__(
        self, state: ClusterState, settings: LearningConfig, apply: Callable[[SharedFeedback], object]
    ) -> None:
        self._state = state
        self._settings = settings
        self._apply = apply
        self._token = subject_token(state.server_id)
        self._stream_name: str | None = None
        self._pending: deque[tuple[str, SharedFeedback]] = deque()
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        # Message ids: unique per run, the same for every attempt of one feedback.
        self._run = os.urandom(6).hex()
        self._sequence = 0
        #: Feedback acknowledged by JetStream, given up (the queue was full), applied from others, refused.
        self.published = 0
        self.given_up = 0
        self.applied = 0
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Feedback not yet acknowledged by JetStream."""
        return len(self._pending)

    def publish(self, feedback: SharedFeedback) -> None:
        """Queue ``feedback`` for the stream (never waits)."""
        if len(self._pending) >= MAX_PENDING:
            _, dropped = self._pending.popleft()
            self.given_up += 1
            log.warning("learning.feedback_not_shared", trace_id=dropped.trace_id, pending=len(self._pending))
        self._sequence += 1
        self._pending.append((f"{self._run}-{self._sequence}", feedback))
        self._wake.set()

    @property
    def progress(self) -> anyio.Event:
        """Set once the next feedback is published or applied (take it before checking what it changes; for tests)."""
        return self._progress

    async def _stream(self) -> str:
        if self._stream_name is None:
            state = self._state
            self._stream_name = await state.stream(
                "feedback",
                [state.subject("feedback", "*")],
                max_age=self._settings.shared_max_age_seconds,
                max_bytes=STREAM_BYTES,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        return self._stream_name

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Publish and apply until cancelled."""
        state = self._state
        await ensure_stream(self._stream)
        consumer = DurableConsumer(
            state,
            self._stream,
            state.subject("feedback", "*"),
            self._token,
            self._handle,
            batch=FETCH_BATCH,
            ack_wait=ACK_WAIT_SECONDS,
            inactive_threshold=self._settings.shared_max_age_seconds,
        )
        async with service_tasks() as tasks:
            await tasks.start(consumer.run)
            tasks.start_soon(self._publish_all)
            task_status.started()
            await anyio.sleep_forever()

    async def _publish_all(self) -> None:
        subject = self._state.subject("feedback", self._token)
        backoff = Backoff()
        while True:
            if not self._pending:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            message_id, feedback = self._pending[0]
            try:
                stream = await self._stream()
                await self._state.jetstream.publish(
                    subject, feedback.encode(), stream=stream, headers={"Nats-Msg-Id": message_id}
                )
            except RETRYABLE as exc:
                if backoff.failed():
                    log.warning("learning.feedback_publish_failed", error=type(exc).__name__, pending=self.pending)
                await backoff.wait()
                continue
            if backoff.succeeded():
                log.info("learning.feedback_publish_resumed", pending=self.pending)
            if self._pending and self._pending[0][0] == message_id:  # not given up meanwhile
                self._pending.popleft()
            self.published += 1
            self._pulse()

    async def _handle(self, messages: list[Msg]) -> None:
        for message in messages:
            try:
                feedback = decode(message.data)
            except ValueError as exc:
                self.rejected += 1
                log.warning("learning.bad_shared_feedback", subject=message.subject, error=str(exc)[:200])
                await message.term()
                continue
            if feedback.origin != self._state.server_id:
                try:
                    self._apply(feedback)
                except Exception:
                    log.exception("learning.shared_feedback_failed", trace_id=feedback.trace_id)
                else:
                    self.applied += 1
            await message.ack()
        self._pulse()

    def _pulse(self) -> None:
        progress, self._progress = self._progress, anyio.Event()
        progress.set()
