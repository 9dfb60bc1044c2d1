"""Writing a lesson: asked of the neuron's LLM from the failure's context, or taken from the rule."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from pydantic import BaseModel, Field

from hal9.layer import Layer
from hal9.learning.lessons import LessonBook, LessonSource, clean, rule_lesson
from hal9.learning.patterns import PatternType
from hal9.runtime.llm import LLM
from hal9.support.replies import parse_reply

log = structlog.get_logger("hal9.learning")

LESSON_SYSTEM = (
    "You improve the instructions of one step in a pipeline of AI agents. From a failure of that step, "
    "write ONE short, general, actionable lesson the step should follow from now on (one sentence, no "
    'preamble). Answer only with JSON: {"lesson": "..."}'
)
#: Completion tokens a lesson may take (a sentence, in JSON).
LESSON_MAX_TOKENS = 200
#: What of the step's own prompt and of the failure the lesson request quotes.
CONTEXT_CHARS = 1_000


class _LessonReply(BaseModel):
    lesson: str = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong, as the lesson's writer sees it (every text already bounded)."""

    pattern: PatternType
    description: str
    comment: str | None = None
    output: str | None = None


def lesson_request(prompt: str, failure: Failure, lessons: list[str]) -> str:
    """The user turn asking for a lesson."""
    parts = [
        f"The step's instructions:\n{prompt[:CONTEXT_CHARS] or '(none)'}",
        f"What went wrong (pattern: {failure.pattern}):\n{failure.description[:CONTEXT_CHARS]}",
    ]
    if failure.output:
        parts.append(f"The step's result:\n{failure.output[:CONTEXT_CHARS]}")
    if failure.comment:
        parts.append(f"The reviewer's comment:\n{failure.comment[:CONTEXT_CHARS]}")
    if lessons:
        parts.append("Lessons it already follows (write a different one):\n" + "\n".join(f"- {t}" for t in lessons))
    parts.append("Write the new lesson.")
    return "\n\n".join(parts)


async def write_lesson(
    llm: LLM | None, *, prompt: str, layer: Layer, failure: Failure, lessons: list[str], limit: int
) -> tuple[str, LessonSource]:
    """A lesson for the failure: the LLM's when it answers with one, else the rule's.

    The call goes through the runtime's LLM service, so it is measured and counts against the
    budget like any other; a refusal or failure falls back to the rule.
    """
    if llm is not None:
        try:
            response = await llm.complete(
                system=LESSON_SYSTEM,
                prompt=lesson_request(prompt, failure, lessons),
                layer=layer,
                max_tokens=LESSON_MAX_TOKENS,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the LLM leaves the rule to write the lesson
            log.warning("learning.lesson_llm_failed", error=type(exc).__name__, detail=str(exc)[:300])
        else:
            parsed = parse_reply(response.text, _LessonReply)
            text = clean(parsed.lesson, limit) if parsed is not None else ""
            if text:
                return text, "llm"
            log.info("learning.lesson_reply_unusable", reply=response.text[:200])
    return rule_lesson(failure.pattern, failure.comment, limit), "rule"


async def new_lesson(
    llm: LLM | None, *, prompt: str, layer: Layer, failure: Failure, book: LessonBook, limit: int
) -> tuple[str, LessonSource] | None:
    """A lesson for the failure that ``book`` does not hold yet (:func:`write_lesson`'s, else the rule's).

    None when there is nothing new to try: the LLM's lesson and the rule's are both known.
    """
    current = [lesson.text for lesson in book.active()]
    text, source = await write_lesson(llm, prompt=prompt, layer=layer, failure=failure, lessons=current, limit=limit)
    if book.knows(text) and source == "llm":
        text, source = rule_lesson(failure.pattern, failure.comment, limit), "rule"
    return None if book.knows(text) else (text, source)
