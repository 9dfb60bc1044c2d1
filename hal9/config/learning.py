"""The ``[learning]`` section."""

from __future__ import annotations

from pydantic import Field

from hal9.config.section import Section


class LearningConfig(Section):
    """The learning service (``hal9.learning:LearningService``): feedback into prompt lessons."""

    decay: float = Field(default=0.5, gt=0, le=1, description="share of an error passed back per hop upstream")
    smoothing: float = Field(
        default=0.5, gt=0, le=1, description="weight of a new error in a neuron's gradient (1: only the latest)"
    )
    threshold: float = Field(default=0.5, gt=0, le=1, description="a gradient at or above it adjusts the prompt")
    success_score: float = Field(default=0.5, ge=0, le=1, description="feedback at or above it is a success")
    window: int = Field(default=50, ge=1, le=10_000, description="outcomes per neuron in its effectiveness")
    evaluation_outcomes: int = Field(default=5, ge=1, le=1000, description="outcomes that judge an adjustment")
    pattern_threshold: int = Field(default=3, ge=1, description="occurrences of a pattern type that identify it")
    max_lessons: int = Field(default=5, ge=1, le=50, description="lessons a prompt carries at most")
    max_lesson_chars: int = Field(default=300, ge=20, le=4_000, description="one lesson's length at most")
    max_prompt_chars: int = Field(default=1_200, ge=100, le=20_000, description="all lessons of a prompt at most")
    history: int = Field(default=20, ge=1, le=1_000, description="lessons (any status) kept per neuron")
    write_with_llm: bool = Field(default=True, description="the neuron's LLM writes lessons (else a rule does)")
    shared_max_age_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="in a cluster: how long the feedback stream keeps a feedback for a server on the request's "
        "path that was away",
    )
