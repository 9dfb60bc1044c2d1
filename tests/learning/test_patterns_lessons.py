"""Pattern types from errors and feedback; the lesson book's bounds, dedup and rendering."""

from __future__ import annotations

import pytest

from hal9.learning import PATTERN_TYPES, Lesson, LessonBook, classify_error, classify_feedback
from hal9.learning.lessons import HEADER, RULE_LESSONS, clean, rule_lesson


@pytest.mark.parametrize(
    ("error", "message", "expected"),
    [
        ("BudgetExceeded", "LLM budget per hour exceeded", "budget"),
        ("LLMRateLimited", "429 from the API", "rate_limit"),
        ("SandboxViolation", "path leaves the root", "tool_refused"),
        ("ToolRefused", "shell is not allowed", "tool_refused"),
        ("LLMTimeout", "no answer", "timeout"),
        ("TimeoutError", "", "timeout"),
        ("JSONDecodeError", "Expecting value", "parse_error"),
        ("ValidationError", "1 validation error", "validation"),
        ("ValueError", "cannot handle it", "validation"),
        ("KeyError", "'x'", "other"),
    ],
)
def test_errors_fold_into_the_bounded_pattern_set(error: str, message: str, expected: str) -> None:
    assert classify_error(error, message) == expected
    assert expected in PATTERN_TYPES


def test_negative_feedback_is_classified_by_its_comment() -> None:
    assert classify_feedback(None) == "negative_feedback"
    assert classify_feedback("Nice try") == "negative_feedback"
    assert classify_feedback("The JSON was malformed") == "parse_error"
    assert classify_feedback("wrong answer, units missing") == "validation"
    assert classify_feedback("it took too long") == "timeout"


def test_every_pattern_type_has_a_rule_lesson_and_it_quotes_the_comment_within_the_limit() -> None:
    assert set(RULE_LESSONS) == set(PATTERN_TYPES)
    text = rule_lesson("validation", "use  metric\nunits", 300)
    assert text.endswith('Feedback said: "use metric units"')
    assert len(rule_lesson("other", "x" * 5000, 120)) == 120
    assert clean("  a \n b  ", 10) == "a b"


def _lesson(n: int, text: str | None = None) -> Lesson:
    return Lesson(n, "implementation", text or f"Lesson number {n} about topic {n}.", "rule", "other")


def test_the_prompt_stays_bounded_after_many_lessons() -> None:
    book = LessonBook(max_active=3, max_chars=200, history=5)
    for n in range(1, 101):
        book.add(_lesson(n))
    assert [lesson.id for lesson in book.active()] == [98, 99, 100]
    assert len(book.lessons) == 5  # the history bound: the 3 active and the 2 newest retired
    rendered = book.render("Base prompt.")
    assert rendered.startswith("Base prompt.\n\n" + HEADER)
    assert "Lesson number 100" in rendered
    assert "Lesson number 97" not in rendered
    assert len(rendered) <= len("Base prompt.\n\n") + 200


def test_lessons_beyond_the_character_budget_are_left_out_oldest_first() -> None:
    book = LessonBook(max_active=5, max_chars=len(HEADER) + 60, history=10)
    for n in range(1, 4):
        book.add(_lesson(n, f"{n}" * 25))
    rendered = book.render("P")
    assert "3" * 25 in rendered
    assert "2" * 25 in rendered
    assert "1" * 25 not in rendered


def test_duplicates_and_rolled_back_lessons_are_known_retired_ones_are_not() -> None:
    book = LessonBook(max_active=1, max_chars=500, history=10)
    first = _lesson(1, "Always state units.")
    book.add(first)
    assert book.knows("  always STATE units ")
    assert book.knows("Always state units")
    book.add(_lesson(2, "Be brief."))
    assert first.status == "retired"
    assert not book.knows("Always state units.")  # out of the prompt for room only: may come back
    book.active()[0].status = "rolled_back"
    book.changed()
    assert book.knows("Be brief.")
    assert book.render("P") == "P"
