"""One neuron's learning state: gradient, recent outcomes, pattern counts, lessons, the adjustment being judged."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from hal9.config import LearningConfig
from hal9.learning.lessons import Lesson, LessonBook
from hal9.learning.patterns import PatternType


@dataclass(slots=True, eq=False)
class Evaluation:
    """An adjustment being judged: the outcomes of requests that started after its lesson was added."""

    lesson: Lesson
    baseline: float
    started_at: float
    outcomes: dict[str, bool] = field(default_factory=dict)


class NeuronLearning:
    """Everything the service keeps about one neuron; all of it bounded by the settings.

    Outcomes: one per request the neuron took part in, keyed by the request (trace) id, the
    newest ``window`` of them. A request without failure is a success only provisionally:
    feedback on it may still turn it into a failure. It becomes final once feedback arrived
    or a later request's outcome is recorded (by then a client giving feedback has had the
    time to); an evaluation only counts final outcomes.
    """

    def __init__(self, neuron_id: str, settings: LearningConfig) -> None:
        self.neuron_id = neuron_id
        self.gradient = 0.0
        self.window = settings.window
        self.outcomes: OrderedDict[str, bool] = OrderedDict()
        self.provisional: str | None = None
        #: Occurrences of each pattern type since it was last identified.
        self.patterns: dict[PatternType, int] = {}
        self.identified: dict[PatternType, int] = {}
        self.lessons = LessonBook(settings.max_lessons, settings.max_prompt_chars, settings.history)
        self.evaluation: Evaluation | None = None
        #: A lesson is being written: no second adjustment starts meanwhile.
        self.adjusting = False

    @property
    def effectiveness(self) -> float | None:
        """Success rate over the window; None before the first outcome."""
        if not self.outcomes:
            return None
        return sum(self.outcomes.values()) / len(self.outcomes)

    def record(self, trace_id: str, success: bool, *, final: bool, created_at: float) -> None:
        """Record (or revise) this neuron's outcome of one request."""
        new = trace_id not in self.outcomes
        self.outcomes[trace_id] = success
        if new:
            if len(self.outcomes) > self.window:
                self.outcomes.popitem(last=False)
            # A newer request has ended: the previous provisional outcome is final now.
            self.provisional = None if final else trace_id
        elif final and self.provisional == trace_id:
            self.provisional = None
        evaluation = self.evaluation
        if evaluation is not None and created_at >= evaluation.started_at:
            evaluation.outcomes[trace_id] = success

    def accumulate(self, error: float, smoothing: float, threshold: float) -> bool:
        """Smooth ``error`` into the gradient; True when that starts an adjustment (then :attr:`adjusting`).

        An adjustment starts when the gradient reaches ``threshold`` and none is being
        written or judged.
        """
        self.gradient += smoothing * (error - self.gradient)
        if self.gradient >= threshold and self.evaluation is None and not self.adjusting:
            self.adjusting = True
            return True
        return False

    def adopt(self, lesson: Lesson) -> list[Lesson]:
        """Add ``lesson`` to the prompt and judge it against the current effectiveness; the lessons it retired."""
        baseline = self.effectiveness or 0.0
        lesson.baseline = baseline
        retired = self.lessons.add(lesson)
        self.evaluation = Evaluation(lesson, baseline, started_at=time.time())
        return retired

    def judged(self, needed: int) -> list[bool] | None:
        """The final outcomes judging the current adjustment, once there are ``needed``; else None."""
        evaluation = self.evaluation
        if evaluation is None:
            return None
        final = [success for trace_id, success in evaluation.outcomes.items() if trace_id != self.provisional]
        return final[:needed] if len(final) >= needed else None

    def conclude(self, needed: int) -> Evaluation | None:
        """Decide the current adjustment once ``needed`` final outcomes judge it; the evaluation decided, else None.

        Its lesson is kept when its success rate beats the baseline, else rolled back (out of the prompt).
        """
        outcomes = self.judged(needed)
        evaluation = self.evaluation
        if outcomes is None or evaluation is None:
            return None
        lesson = evaluation.lesson
        lesson.result = sum(outcomes) / len(outcomes)
        self.evaluation = None
        if lesson.result > evaluation.baseline:
            lesson.status = "kept"
        else:
            lesson.status = "rolled_back"
            self.lessons.changed()
        return evaluation

    def count_pattern(self, pattern: PatternType, threshold: int) -> bool:
        """Count one occurrence; True when it reaches ``threshold`` (identified; the count starts over)."""
        seen = self.patterns.get(pattern, 0) + 1
        if seen >= threshold:
            self.patterns[pattern] = 0
            self.identified[pattern] = self.identified.get(pattern, 0) + 1
            return True
        self.patterns[pattern] = seen
        return False
