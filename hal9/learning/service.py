"""``LearningService``: feedback and failed branches into error gradients, lessons and their judgement."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Self

import structlog

from hal9.config import LearningConfig
from hal9.errors import FeedbackTooEarly, InvalidFeedback, NeuronNotFound, RuntimeNotRunning
from hal9.learning.durable import forget_lesson, restore_lessons, store_adopted
from hal9.learning.failures import FailureNotes, failures
from hal9.learning.feedback import (
    MAX_COMMENT_CHARS,
    FeedbackReceipt,
    feedback_failure,
)
from hal9.learning.gradients import output_hops, propagate, shared
from hal9.learning.lessons import Lesson, clean
from hal9.learning.metrics import LearningCollector, LearningCounters
from hal9.learning.patterns import PatternType, classify_feedback
from hal9.learning.report import NeuronReport
from hal9.learning.shared import SharedFeedback, branches
from hal9.learning.state import NeuronLearning
from hal9.learning.writer import Failure, new_lesson
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.llm import LLM
from hal9.runtime.memory import Memory
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.trace import TraceResult
from hal9.support.background import BackgroundTasks

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.learning.relay import FeedbackRelay
    from hal9.runtime.runtime import Runtime

log = structlog.get_logger("hal9.learning")


class LearningService(Service):
    """Learns from feedback: error gradients along the signal path, prompt lessons, and their judgement.

    Feedback comes from :meth:`feedback` (``POST /api/v1/signals/{id}/feedback``) and, by
    itself, from every request with a failed branch (an error in ``process()``: a budget or
    tool refusal, a timeout...). Each is one learning cycle: the error walks back along the
    request's path (:func:`~hal9.learning.gradients.propagate`) into each neuron's gradient;
    a neuron whose gradient reaches ``learning.threshold`` gets a lesson, written by its LLM
    (or a rule), that joins its system prompt (:meth:`system_prompt`). The lesson is judged
    over the neuron's next ``learning.evaluation_outcomes`` outcomes against its success rate
    before: better keeps it, else it is rolled back.

    Lessons live in the service (bounded per neuron), so a neuron learns without a memory
    service; with one, each lesson is also stored there (kind ``lesson``) and the lessons
    still in a prompt are restored from it at start.

    Cheap when no feedback arrives: a request that ends without failure costs one dict
    update per neuron of its path.
    """

    name = "learning"

    def __init__(self, settings: LearningConfig | None = None) -> None:
        self.settings = settings if settings is not None else LearningConfig()
        self._runtime: Runtime | None = None
        # Replaced, never mutated, when a neuron comes or goes: the collector reads it from a scrape.
        self._states: dict[str, NeuronLearning] = {}
        self._collector = LearningCollector(lambda: self._states)
        self._lesson_ids = itertools.count(1)
        self._background = BackgroundTasks("learning.task_failed")
        self._notes = FailureNotes()
        #: In a cluster with shared state: feedback to and from the other servers on a request's path.
        self.relay: FeedbackRelay | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(config.learning)

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._counters = LearningCounters(metrics)
        metrics.register(self._collector)

    def on_attached(self, runtime: Runtime) -> None:
        self._runtime = runtime
        if runtime.config.network.shared:
            # Imported here: cluster mode needs nats-py, which a single server may not have.
            from hal9.cluster.state import ClusterState
            from hal9.learning.relay import FeedbackRelay

            state = runtime.services.get(ClusterState)
            if state is not None:
                self.relay = FeedbackRelay(state, self.settings, self.apply_shared)

    def on_neuron_removed(self, neuron_id: str) -> None:
        if neuron_id in self._states:
            self._states = {k: v for k, v in self._states.items() if k != neuron_id}
        self._counters.remove_neuron(neuron_id)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._background.running

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Restore lessons from memory if there is one, and run lesson writing in a task group.

        On exit, lesson writing still in progress is cancelled (its cycle is not counted).
        """
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        runtime = self._runtime
        if runtime is not None:
            for neuron in runtime.neuron_snapshot:
                self._state(neuron.id)
            memory = self._memory()
            if memory is not None:
                await restore_lessons(memory, self._states, self.settings, self._lesson_ids, runtime.config.server_id)
        async with self._background:
            if self.relay is not None and self._background.group is not None:
                await self._background.group.start(self.relay.run)
            yield self

    async def wait_idle(self) -> None:
        """Wait until no lesson is being written, stored or rolled back (for tests and demos)."""
        await self._background.wait_idle()

    # -- what neurons read ----------------------------------------------------------------

    def system_prompt(self, neuron_id: str, prompt: str) -> str:
        """``prompt`` followed by the neuron's lessons in the prompt (bounded in number and size)."""
        state = self._states.get(neuron_id)
        return prompt if state is None else state.lessons.render(prompt)

    def report(self, neuron_id: str) -> NeuronReport:
        """The neuron's gradient, effectiveness, pattern counts, lessons and current evaluation.

        Raises:
            NeuronNotFound: the runtime has no such neuron.
        """
        state = self._state(neuron_id)
        if state is None:
            raise NeuronNotFound(neuron_id)
        return NeuronReport.of(state, self.settings.evaluation_outcomes)

    # -- feedback in ------------------------------------------------------------------------

    def feedback(self, trace_id: str, *, score: float, comment: str | None = None) -> FeedbackReceipt:
        """Feedback on a finished request: one learning cycle.

        The error ``1 - score`` is shared among the request's output hops and walks back from
        them. Each neuron on the path gets the request's verdict as its outcome (a success
        when ``score >= learning.success_score``), replacing the one recorded when it ended.

        Args:
            trace_id: the request's id (``TraceResult.id``, what ``submit()`` returned).
            score: how good the result was, from 0 (useless) to 1 (right).
            comment: what was wrong or right; at most 1000 characters are kept.

        Raises:
            InvalidFeedback: the score is not a number in [0, 1].
            TraceNotFound: no such request, or it left the bounded history.
            FeedbackTooEarly: the request has not finished.
            RuntimeNotRunning: the service is not started.
        """
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1 or math.isnan(score):
            raise InvalidFeedback(f"score must be a number from 0 to 1, got {score!r}")
        runtime = self._runtime
        if runtime is None or not self.running:
            raise RuntimeNotRunning("the learning service is not running")
        result = runtime.lookup(trace_id)
        if result.finished_at is None:
            raise FeedbackTooEarly(trace_id)
        comment = comment[:MAX_COMMENT_CHARS] if comment else None
        with self.measure(operation="feedback"):
            score = float(score)
            success = score >= self.settings.success_score
            neurons = dict.fromkeys(hop.neuron_id for hop in result.path)
            for neuron_id in neurons:
                state = self._state(neuron_id)
                if state is not None:
                    state.record(result.id, success, final=True, created_at=result.created_at)
                    self._judge(state)
            outputs = output_hops(result.path)
            errors = propagate(result.path, shared(outputs, 1.0 - score), self.settings.decay)
            pattern = None if success else classify_feedback(comment)
            failure = feedback_failure(result, score, comment, pattern)
            patterns = {} if pattern is None else {hop.neuron_id: pattern for hop in outputs}
            adjusting = self._cycle(errors, patterns, failure)
            if self.relay is not None and set(neurons) - set(runtime.local_neuron_ids):
                # Neurons of other servers were on the path: they learn their part there.
                origin = runtime.config.server_id
                self.relay.publish(SharedFeedback.of(origin, result, score, success, errors, failure))
        return FeedbackReceipt(
            trace_id=result.id,
            score=score,
            success=success,
            pattern=pattern,
            errors=errors,
            gradients={n: self._states[n].gradient for n in errors if n in self._states},
            adjusting=adjusting,
        )

    def apply_shared(self, feedback: SharedFeedback) -> tuple[str, ...]:
        """Feedback another server received on a request whose path crossed this one: its part here.

        Each neuron of this server on the path gets the verdict as its outcome of each branch
        it ran (a branch from another server is a request of its own here, keyed by the id of
        the signal that brought it), and the error the receiving server computed for it; the
        output neurons here count the feedback's pattern. Returns the neurons now adjusting.
        """
        runtime = self._runtime
        if runtime is None or not self.running:
            return ()
        local = frozenset(runtime.local_neuron_ids)
        path = feedback.path
        mine = branches(path, local)
        if not mine:
            return ()  # the request did not pass through this server
        with self.measure(operation="feedback"):
            for hop, branch in mine:
                state = self._state(hop.neuron_id)
                if state is not None:
                    state.record(branch, feedback.success, final=True, created_at=feedback.created_at)
                    self._judge(state)
            errors = {n: e for n, e in feedback.errors.items() if n in local}
            # As where it was received: a negative feedback's pattern counts at the output neurons.
            pattern = feedback.failure.pattern
            patterns = (
                {}
                if feedback.success
                else {hop.neuron_id: pattern for hop in output_hops(path) if hop.neuron_id in local}
            )
            return self._cycle(errors, patterns, feedback.failure)

    def on_trace_finished(self, result: TraceResult) -> None:
        """Record each neuron's outcome of the request; a failed branch is feedback by itself."""
        if not self.running:
            return
        found = failures(result, self._notes.take(result.id))
        if found is None:
            # The common case, on the routing path of every request: kept to a lookup and a record per hop.
            trace_id, created_at, states = result.id, result.created_at, self._states
            for hop in result.path:
                state = states.get(hop.neuron_id) or self._state(hop.neuron_id)
                # provisional == trace_id: this neuron's outcome of the request is recorded already (fan-out).
                if state is not None and state.provisional != trace_id:
                    state.record(trace_id, True, final=False, created_at=created_at)
                    if state.evaluation is not None:
                        self._judge(state)
            return
        # A failure is the whole error (1), shared among the failed hops and walked back from them.
        errors = propagate(result.path, shared(found.hops, 1.0), self.settings.decay)
        for neuron_id in dict.fromkeys(hop.neuron_id for hop in result.path):
            state = self._state(neuron_id)
            if state is not None:
                failure = neuron_id in errors
                state.record(result.id, not failure, final=failure, created_at=result.created_at)
                self._judge(state)
        self._cycle(errors, found.patterns, found.first)

    def note_failure(self, signal: Signal, neuron_id: str, error: BaseException) -> None:
        """A failure ``neuron_id`` recovered from while processing ``signal`` (a refused tool call, say).

        When the request ends it is learned from like a failed branch at that hop. Notes are
        bounded: at most a few per request, for a bounded number of requests still running.
        """
        if self.running:
            self._notes.add(signal, neuron_id, error)

    # -- the cycle --------------------------------------------------------------------------

    def _cycle(
        self, errors: Mapping[str, float], patterns: Mapping[str, PatternType], failure: Failure
    ) -> tuple[str, ...]:
        """Gradients, patterns, then adjustments; the cycle is counted once its adjustments are done."""
        settings = self.settings
        for neuron_id, pattern in patterns.items():
            state = self._state(neuron_id)
            if state is not None and state.count_pattern(pattern, settings.pattern_threshold):
                self._counters.patterns.labels(pattern).inc()
                self._publish("learning.pattern", neuron_id=neuron_id, pattern_type=pattern)
        adjusting: list[NeuronLearning] = []
        for neuron_id, error in errors.items():
            state = self._state(neuron_id)
            if state is None:
                continue
            if state.accumulate(error, settings.smoothing, settings.threshold):
                adjusting.append(state)
        if not adjusting:
            self._counters.cycles.inc()
            return ()
        self._background.spawn(self._adjust_all, adjusting, failure)
        return tuple(state.neuron_id for state in adjusting)

    async def _adjust_all(self, states: list[NeuronLearning], failure: Failure) -> None:
        try:
            for state in states:
                try:
                    async with self.measure(operation="adjust"):
                        await self._adjust(state, failure)
                except Exception as exc:  # noqa: BLE001 - one neuron's failed adjustment leaves the others theirs
                    log.warning("learning.adjust_failed", neuron_id=state.neuron_id, error=type(exc).__name__)
        finally:
            for state in states:
                state.adjusting = False
        self._counters.cycles.inc()

    async def _adjust(self, state: NeuronLearning, failure: Failure) -> None:
        structlog.contextvars.bind_contextvars(neuron_id=state.neuron_id)
        runtime = self._runtime
        assert runtime is not None
        try:
            neuron = runtime.neuron(state.neuron_id)
        except NeuronNotFound:
            return
        llm = runtime.services.get(LLM) if self.settings.write_with_llm else None
        limit = self.settings.max_lesson_chars
        written = await new_lesson(
            llm,
            prompt=neuron.prompt,
            layer=neuron.layer,
            failure=failure,
            book=state.lessons,
            limit=limit,
        )
        # The error is consumed by this attempt, whatever it yields: a neuron the LLM has nothing
        # new to teach is not asked again by every next failure, only once its gradient is back.
        state.gradient = 0.0
        if written is None or self._states.get(state.neuron_id) is not state:
            # Nothing new to try (or the neuron left meanwhile): the prompt stays as it is.
            log.info("learning.no_new_lesson", neuron_id=state.neuron_id, pattern=failure.pattern)
            return
        text, source = written
        lesson = Lesson(next(self._lesson_ids), state.neuron_id, clean(text, limit), source, failure.pattern)
        retired = state.adopt(lesson)
        log.info("learning.adjusted", neuron_id=state.neuron_id, lesson_id=lesson.id, source=source)
        self._publish(
            "learning.adjusted",
            neuron_id=state.neuron_id,
            lesson_id=lesson.id,
            lesson=lesson.text,
            source=source,
            pattern_type=lesson.pattern,
            baseline=lesson.baseline,
        )
        memory = self._memory()
        if memory is not None:
            await store_adopted(memory, lesson, retired, neuron.layer.value, runtime.config.server_id)

    def _judge(self, state: NeuronLearning) -> None:
        """Decide the current adjustment once enough final outcomes judge it: keep it or roll it back."""
        evaluation = state.conclude(self.settings.evaluation_outcomes)
        if evaluation is None:
            return
        lesson = evaluation.lesson
        kind = "success" if lesson.status == "kept" else "failure"
        if kind == "failure":
            memory = self._memory()
            if memory is not None and lesson.memory_id is not None:
                self._background.spawn(forget_lesson, memory, lesson)
        self._counters.adjustments.labels(state.neuron_id, kind).inc()
        log.info("learning.judged", neuron_id=state.neuron_id, lesson_id=lesson.id, kept=kind == "success")
        self._publish(
            "learning.kept" if kind == "success" else "learning.rolled_back",
            neuron_id=state.neuron_id,
            lesson_id=lesson.id,
            lesson=lesson.text,
            baseline=evaluation.baseline,
            result=lesson.result,
        )

    # -- helpers ------------------------------------------------------------------------------

    def _state(self, neuron_id: str) -> NeuronLearning | None:
        """The neuron's state, created on first use; None for an id that is not a neuron of the runtime."""
        state = self._states.get(neuron_id)
        if state is not None:
            return state
        runtime = self._runtime
        if runtime is None:
            return None
        try:
            runtime.neuron(neuron_id)
        except NeuronNotFound:
            return None
        state = NeuronLearning(neuron_id, self.settings)
        self._states = {**self._states, neuron_id: state}
        self._counters.add_neuron(neuron_id)
        return state

    def _memory(self) -> Memory | None:
        return self._runtime.services.get(Memory) if self._runtime is not None else None

    def _publish(self, kind: str, **fields: Any) -> None:
        runtime = self._runtime
        if runtime is not None and runtime.events.active:
            runtime.events.publish(kind, **fields)
