"""Pattern types: errors and negative feedback normalised into a small closed set."""

from __future__ import annotations

from typing import Literal

PatternType = Literal[
    "timeout", "budget", "rate_limit", "tool_refused", "parse_error", "validation", "negative_feedback", "other"
]
#: The label values of ``hal9_learning_patterns_identified_total``: anything else is ``other``.
PATTERN_TYPES: tuple[PatternType, ...] = (
    "timeout",
    "budget",
    "rate_limit",
    "tool_refused",
    "parse_error",
    "validation",
    "negative_feedback",
    "other",
)

# Checked in order; the first type any of whose words occurs in the error's class name or
# message (lower-cased) wins. Class names come first in the text, so "BudgetExceeded" beats a
# message that happens to mention a timeout.
_ERROR_WORDS: tuple[tuple[PatternType, tuple[str, ...]], ...] = (
    ("budget", ("budgetexceeded", "budget")),
    ("rate_limit", ("ratelimit", "rate limit", "rate_limit", "429", "too many requests")),
    (
        "tool_refused",
        ("sandbox", "toolcallfailed", "toolrefused", "tooldenied", "toolnotallowed", "not allowed", "refused"),
    ),
    ("timeout", ("timeout", "timed out", "deadline")),
    ("parse_error", ("jsondecode", "parse", "decode", "malformed", "syntax")),
    ("validation", ("validation", "invalid", "valueerror", "typeerror", "constraint")),
)

_FEEDBACK_WORDS: tuple[tuple[PatternType, tuple[str, ...]], ...] = (
    ("timeout", ("too slow", "timed out", "timeout", "took too long")),
    ("parse_error", ("format", "json", "parse", "malformed")),
    ("validation", ("invalid", "incorrect", "wrong", "missing", "constraint")),
)


def classify_error(error: str, message: str) -> PatternType:
    """The pattern type of a failed branch, from its error class name and message."""
    return _first_match(f"{error} {message[:500]}".lower(), _ERROR_WORDS, "other")


def classify_feedback(comment: str | None) -> PatternType:
    """The pattern type of negative feedback: from its comment's words, else ``negative_feedback``."""
    if not comment:
        return "negative_feedback"
    return _first_match(comment[:500].lower(), _FEEDBACK_WORDS, "negative_feedback")


def _first_match(
    text: str, table: tuple[tuple[PatternType, tuple[str, ...]], ...], default: PatternType
) -> PatternType:
    for pattern, words in table:
        if any(word in text for word in words):
            return pattern
    return default
