"""A neuron's learning as the API shows it: a snapshot, detached from the live state."""

from __future__ import annotations

from dataclasses import dataclass

from hal9.learning.lessons import Lesson, LessonSource, LessonStatus
from hal9.learning.patterns import PatternType
from hal9.learning.state import NeuronLearning


@dataclass(frozen=True, slots=True)
class LessonReport:
    """One lesson and its status."""

    id: int
    text: str
    status: LessonStatus
    source: LessonSource
    pattern: PatternType
    baseline: float | None
    result: float | None
    created_at: float
    stored: bool

    @classmethod
    def of(cls, lesson: Lesson) -> LessonReport:
        return cls(
            lesson.id,
            lesson.text,
            lesson.status,
            lesson.source,
            lesson.pattern,
            lesson.baseline,
            lesson.result,
            lesson.created_at,
            lesson.memory_id is not None,
        )


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """The adjustment being judged: its lesson, the success rate to beat, outcomes so far."""

    lesson_id: int
    baseline: float
    outcomes: int
    needed: int


@dataclass(frozen=True, slots=True)
class NeuronReport:
    """A neuron's learning: gradient, effectiveness, patterns, lessons (newest last), evaluation."""

    neuron_id: str
    gradient: float
    effectiveness: float | None
    outcomes: int
    patterns: dict[PatternType, int]
    identified: dict[PatternType, int]
    lessons: tuple[LessonReport, ...]
    evaluation: EvaluationReport | None
    adjusting: bool

    @classmethod
    def of(cls, state: NeuronLearning, needed: int) -> NeuronReport:
        evaluation = state.evaluation
        return cls(
            neuron_id=state.neuron_id,
            gradient=state.gradient,
            effectiveness=state.effectiveness,
            outcomes=len(state.outcomes),
            patterns={p: n for p, n in state.patterns.items() if n},
            identified=dict(state.identified),
            lessons=tuple(LessonReport.of(lesson) for lesson in state.lessons.lessons),
            evaluation=None
            if evaluation is None
            else EvaluationReport(evaluation.lesson.id, evaluation.baseline, len(evaluation.outcomes), needed),
            adjusting=state.adjusting,
        )
