"""The learning service: feedback into error gradients along the signal path, prompt lessons, patterns."""

from hal9.errors import FeedbackTooEarly, InvalidFeedback
from hal9.learning.feedback import FeedbackReceipt
from hal9.learning.gradients import output_hops, propagate
from hal9.learning.lessons import Lesson, LessonBook
from hal9.learning.patterns import PATTERN_TYPES, PatternType, classify_error, classify_feedback
from hal9.learning.report import EvaluationReport, LessonReport, NeuronReport
from hal9.learning.service import LearningService

__all__ = [
    "PATTERN_TYPES",
    "EvaluationReport",
    "FeedbackReceipt",
    "FeedbackTooEarly",
    "InvalidFeedback",
    "LearningService",
    "Lesson",
    "LessonBook",
    "LessonReport",
    "NeuronReport",
    "PatternType",
    "classify_error",
    "classify_feedback",
    "output_hops",
    "propagate",
]
