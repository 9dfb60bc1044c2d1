"""Feedback on a request's result, and what each neuron has learned from it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hal9.learning import LearningService, NeuronReport, PatternType
from hal9.learning.feedback import MAX_COMMENT_CHARS
from hal9.server.body import JSONRoute
from hal9.server.deps import RuntimeDep
from hal9.server.schemas import RequestBody

router = APIRouter(tags=["learning"], route_class=JSONRoute)

_NO_LEARNING: dict[int | str, dict[str, Any]] = {
    503: {"description": "the runtime has no learning service, or it is stopping"}
}
#: In the OpenAPI description: exactly one of ``score`` and ``success``, and not null (null is "not given").
_ONE_VERDICT: dict[str, Any] = {
    "oneOf": [
        {"required": ["score"], "properties": {"score": {"type": "number"}}},
        {"required": ["success"], "properties": {"success": {"type": "boolean"}}},
    ]
}


async def get_learning(runtime: RuntimeDep) -> LearningService:
    service = runtime.services.get(LearningService)
    if service is None:
        raise HTTPException(
            503, "no learning service is configured; add services.learning = 'hal9.learning:LearningService'"
        )
    return service


LearningDep = Annotated[LearningService, Depends(get_learning)]


class FeedbackRequest(RequestBody):
    """How good a request's result was: a ``score`` from 0 to 1, or ``success`` true or false (not both)."""

    # Strict (RequestBody): true is not a score of 1, nor "0.5" a number.
    model_config = ConfigDict(json_schema_extra=_ONE_VERDICT)

    score: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False, description="0 useless .. 1 right")
    success: bool | None = Field(default=None, description="true counts as score 1, false as 0")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS, description="what was wrong or right")

    @model_validator(mode="after")
    def _one_verdict(self) -> Self:
        if (self.score is None) == (self.success is None):
            raise ValueError("give exactly one of score (0 to 1) and success (true or false)")
        return self

    @property
    def value(self) -> float:
        if self.score is not None:
            return self.score
        return 1.0 if self.success else 0.0


class FeedbackView(BaseModel):
    """What the feedback did: the error that reached each neuron and the gradients after it."""

    signal_id: str
    score: float
    success: bool
    pattern_type: PatternType | None = Field(description="the pattern type of negative feedback")
    errors: dict[str, float] = Field(description="error per neuron of the request's path, in this cycle")
    gradients: dict[str, float] = Field(description="each of those neurons' gradient after it")
    adjusting: list[str] = Field(description="neurons whose gradient passed the threshold: a lesson is being written")


class LessonView(BaseModel):
    id: int
    text: str
    status: Literal["evaluating", "kept", "rolled_back", "retired"]
    source: Literal["llm", "rule"]
    pattern_type: PatternType
    baseline: float | None = Field(description="the neuron's success rate when the lesson was added")
    result: float | None = Field(description="its success rate over the outcomes that judged the lesson")
    created_at: float
    stored: bool = Field(description="kept in the memory service (its durable copy)")


class EvaluationView(BaseModel):
    lesson_id: int
    baseline: float
    outcomes: int
    needed: int


class NeuronLearningView(BaseModel):
    """A neuron's learning: gradient, effectiveness, patterns, lessons (oldest first) and the current evaluation."""

    neuron_id: str
    gradient: float
    effectiveness: float | None = Field(description="success rate over the recent outcomes; null before any")
    outcomes: int
    patterns: dict[PatternType, int] = Field(description="occurrences per pattern type since it was last identified")
    identified: dict[PatternType, int] = Field(description="times each pattern type was identified")
    lessons: list[LessonView]
    evaluation: EvaluationView | None
    adjusting: bool

    @classmethod
    def of(cls, report: NeuronReport) -> Self:
        evaluation = report.evaluation
        return cls(
            neuron_id=report.neuron_id,
            gradient=report.gradient,
            effectiveness=report.effectiveness,
            outcomes=report.outcomes,
            patterns=dict(report.patterns),
            identified=dict(report.identified),
            lessons=[
                LessonView(
                    id=lesson.id,
                    text=lesson.text,
                    status=lesson.status,
                    source=lesson.source,
                    pattern_type=lesson.pattern,
                    baseline=lesson.baseline,
                    result=lesson.result,
                    created_at=lesson.created_at,
                    stored=lesson.stored,
                )
                for lesson in report.lessons
            ],
            evaluation=None
            if evaluation is None
            else EvaluationView(
                lesson_id=evaluation.lesson_id,
                baseline=evaluation.baseline,
                outcomes=evaluation.outcomes,
                needed=evaluation.needed,
            ),
            adjusting=report.adjusting,
        )


@router.post(
    "/api/v1/signals/{signal_id}/feedback",
    response_model=FeedbackView,
    responses={
        404: {"description": "no request with this id (unknown, or no longer kept)"},
        409: {"description": "the request has not finished"},
        **_NO_LEARNING,
    },
)
async def give_feedback(signal_id: str, body: FeedbackRequest, learning: LearningDep) -> FeedbackView:
    """Feedback on a finished request: its error walks back along the request's path (one learning cycle)."""
    receipt = learning.feedback(signal_id, score=body.value, comment=body.comment)
    return FeedbackView(
        signal_id=receipt.trace_id,  # the API's name for the request's id
        score=receipt.score,
        success=receipt.success,
        pattern_type=receipt.pattern,
        errors=dict(receipt.errors),
        gradients=dict(receipt.gradients),
        adjusting=list(receipt.adjusting),
    )


@router.get(
    "/api/v1/neurons/{neuron_id}/learning",
    response_model=NeuronLearningView,
    responses={404: {"description": "no neuron with this id"}, **_NO_LEARNING},
)
async def neuron_learning(neuron_id: str, learning: LearningDep) -> NeuronLearningView:
    """A neuron's gradient, effectiveness, patterns, lessons with their status, and the current evaluation."""
    return NeuronLearningView.of(learning.report(neuron_id))
