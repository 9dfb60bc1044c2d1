"""What feedback is refused for, what a feedback teaches, and what one accepted feedback did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hal9.learning.patterns import PatternType
from hal9.learning.writer import Failure
from hal9.runtime.trace import TraceResult

#: What of a feedback's comment is kept (it goes into a lesson request, and may be quoted in a lesson).
MAX_COMMENT_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class FeedbackReceipt:
    """What one feedback did.

    Attributes:
        trace_id: the request it was about.
        score: its score in [0, 1].
        success: whether the score counts as a success (``learning.success_score``).
        pattern: the pattern type of negative feedback, None for a success.
        errors: the error that reached each neuron of the request's path in this cycle.
        gradients: each of those neurons' gradient after it.
        adjusting: neurons whose gradient passed the threshold: a lesson is being written.
    """

    trace_id: str
    score: float
    success: bool
    pattern: PatternType | None
    errors: Mapping[str, float]
    gradients: Mapping[str, float]
    adjusting: tuple[str, ...]


def feedback_failure(result: TraceResult, score: float, comment: str | None, pattern: PatternType | None) -> Failure:
    """The failure a feedback reports, as a lesson's writer sees it (``negative_feedback`` without a pattern)."""
    description = f"A reviewer scored the result {score:.2f} of 1." + (f" {comment}" if comment else "")
    return Failure(pattern or "negative_feedback", description, comment, _output_text(result))


def _output_text(result: TraceResult) -> str | None:
    if not result.outputs:
        return None
    return "\n".join(str(output)[:500] for output in result.outputs[:3])
