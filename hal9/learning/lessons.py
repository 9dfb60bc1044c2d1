"""Lessons: what a neuron learned from a failure, kept in a bounded book that renders into its prompt."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from hal9.learning.patterns import PatternType

LessonStatus = Literal["evaluating", "kept", "rolled_back", "retired"]
LessonSource = Literal["llm", "rule"]
#: Statuses whose lessons are in the prompt.
ACTIVE: frozenset[LessonStatus] = frozenset({"evaluating", "kept"})
HEADER = "Lessons learned from earlier feedback (follow them):"

#: The rule's lesson per pattern type, used when the LLM is unavailable or gives no usable lesson.
RULE_LESSONS: dict[PatternType, str] = {
    "timeout": "Keep the work small and the answer short: an earlier attempt ran out of time.",
    "budget": "Be brief and skip needless detail: an earlier call was refused for exceeding the LLM budget.",
    "rate_limit": "Do the task in as few model calls as possible: earlier calls were rate limited.",
    "tool_refused": "Use only the tools, paths and commands the sandbox allows: an earlier tool call was refused.",
    "parse_error": "Answer in exactly the format asked for (valid JSON where JSON is asked): "
    "an earlier reply could not be parsed.",
    "validation": "Check the answer against every constraint of the request before giving it: "
    "an earlier answer was invalid.",
    "negative_feedback": "Address the request exactly and completely: an earlier answer was judged poor.",
    "other": "Double-check the answer before giving it: an earlier attempt failed.",
}


def clean(text: str, limit: int) -> str:
    """One line, whitespace collapsed, at most ``limit`` characters (cut with an ellipsis)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rule_lesson(pattern: PatternType, comment: str | None, limit: int) -> str:
    """The rule's lesson for ``pattern``, quoting the feedback's comment when there is one."""
    text = RULE_LESSONS[pattern]
    if comment and comment.strip():
        text = f'{text} Feedback said: "{" ".join(comment.split())}"'
    return clean(text, limit)


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".…")


@dataclass(slots=True, eq=False)
class Lesson:
    """One prompt adjustment and how it fared.

    Attributes:
        id: unique in the service.
        text: the lesson as it appears in the prompt.
        status: ``evaluating`` (in the prompt, being judged), ``kept`` (judged better),
            ``rolled_back`` (judged not better: out of the prompt), ``retired`` (pushed out
            by newer lessons when the prompt was full).
        source: who wrote it: the neuron's LLM or the rule.
        pattern: the pattern type of the failure it answers.
        baseline: the neuron's success rate when it was added.
        result: its success rate over the outcomes that judged it.
        memory_id: its entry in the memory service (the durable copy), if stored.
    """

    id: int
    neuron_id: str
    text: str
    source: LessonSource
    pattern: PatternType
    status: LessonStatus = "evaluating"
    baseline: float | None = None
    result: float | None = None
    memory_id: int | None = None
    created_at: float = field(default_factory=time.time)


class LessonBook:
    """One neuron's lessons: at most ``max_active`` in the prompt, within ``max_chars``.

    Adding a lesson beyond ``max_active`` retires the oldest active one. Lessons no longer
    active are kept for the record up to ``history`` in all; the oldest of them go first.
    The rendered prompt is cached until the lessons change (it is read on every LLM call).
    """

    def __init__(self, max_active: int, max_chars: int, history: int) -> None:
        self.max_active = max_active
        self.max_chars = max_chars
        self.history = max(history, max_active)
        self.lessons: list[Lesson] = []
        self._rendered: tuple[str, str] | None = None

    def active(self) -> list[Lesson]:
        """The lessons in the prompt, oldest first."""
        return [lesson for lesson in self.lessons if lesson.status in ACTIVE]

    def knows(self, text: str) -> bool:
        """Whether ``text`` is an active lesson, or one rolled back (it did not help: not worth retrying)."""
        key = _key(text)
        return any(_key(lesson.text) == key for lesson in self.lessons if lesson.status != "retired")

    def add(self, lesson: Lesson) -> list[Lesson]:
        """Add an active lesson; returns the lessons it retired."""
        self.lessons.append(lesson)
        retired = []
        active = self.active()
        for old in active[: max(0, len(active) - self.max_active)]:
            old.status = "retired"
            retired.append(old)
        inactive = [lesson for lesson in self.lessons if lesson.status not in ACTIVE]
        for old in inactive[: max(0, len(self.lessons) - self.history)]:
            self.lessons.remove(old)
        self.changed()
        return retired

    def changed(self) -> None:
        """A lesson's status changed: the prompt is rendered afresh."""
        self._rendered = None

    def render(self, prompt: str) -> str:
        """``prompt`` followed by the active lessons, newest kept first when they do not all fit."""
        cached = self._rendered
        if cached is not None and cached[0] == prompt:
            return cached[1]
        lines: list[str] = []
        used = len(HEADER)
        for lesson in reversed(self.active()):
            line = f"- {lesson.text}"
            if used + len(line) + 1 > self.max_chars:
                break
            lines.append(line)
            used += len(line) + 1
        text = f"{prompt}\n\n{HEADER}\n" + "\n".join(reversed(lines)) if lines else prompt
        self._rendered = (prompt, text)
        return text
