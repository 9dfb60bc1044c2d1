"""Lessons in the memory service: their durable copy, stored, forgotten, and found again at start.

Each lesson entry names the server that stored it (``metadata.server``). In a cluster the memory
is shared, so a server's memory also holds the other servers' lesson entries; it restores only
its own: a lesson rolled back is forgotten where it was stored, and its copies elsewhere must
not come back into a prompt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import structlog

from hal9.config import LearningConfig
from hal9.learning.lessons import Lesson, LessonSource, clean
from hal9.learning.patterns import PATTERN_TYPES, PatternType
from hal9.learning.state import NeuronLearning
from hal9.runtime.memory import Memory

log = structlog.get_logger("hal9.learning")

#: Lesson entries start with this word, which is how a full-text search finds them again.
MEMORY_PREFIX = "Lesson: "
#: Above the retention threshold's default (0.5): a lesson in a prompt is not aged out of memory.
IMPORTANCE = 0.9


@dataclass(frozen=True, slots=True)
class StoredLesson:
    text: str
    source: LessonSource
    pattern: PatternType
    memory_id: int
    created_at: float


async def store_lesson(memory: Memory, lesson: Lesson, layer: str, server_id: str) -> None:
    """Store the lesson (kind ``lesson``) and note its entry id; a failure is logged (it works without)."""
    try:
        lesson.memory_id = await memory.store(
            MEMORY_PREFIX + lesson.text,
            neuron_id=lesson.neuron_id,
            kind="lesson",
            layer=layer,
            metadata={"source": lesson.source, "pattern": lesson.pattern, "server": server_id},
            importance=IMPORTANCE,
        )
    except Exception as exc:  # noqa: BLE001 - memory is the durable copy; the lesson works without it
        log.warning("learning.store_failed", neuron_id=lesson.neuron_id, error=type(exc).__name__)


async def forget_lesson(memory: Memory, lesson: Lesson) -> None:
    """Delete the lesson's entry (rolled back or retired: it must not come back at the next start)."""
    if lesson.memory_id is None:
        return
    try:
        await memory.forget(lesson.memory_id)
    except Exception as exc:  # noqa: BLE001 - a stale entry left in memory is only restored as kept
        log.warning("learning.forget_failed", lesson_id=lesson.id, error=type(exc).__name__)
    else:
        lesson.memory_id = None


async def store_adopted(memory: Memory, lesson: Lesson, retired: list[Lesson], layer: str, server_id: str) -> None:
    """The durable copy of a lesson just adopted: the lessons it retired are forgotten, it is stored."""
    for old in retired:
        await forget_lesson(memory, old)
    await store_lesson(memory, lesson, layer, server_id)
    if lesson.status == "rolled_back":  # judged while it was being stored
        await forget_lesson(memory, lesson)


async def stored_lessons(memory: Memory, neuron_id: str, newest: int, server_id: str) -> list[StoredLesson]:
    """The neuron's ``newest`` lessons in memory stored by server ``server_id`` (or naming none), oldest first."""
    entries = await memory.search("lesson", neuron_id=neuron_id, kind="lesson", limit=min(100, newest * 2))
    own = [entry for entry in entries if entry.metadata.get("server", server_id) == server_id]
    found = []
    for entry in sorted(own, key=lambda e: e.created_at)[-newest:]:
        pattern = entry.metadata.get("pattern")
        found.append(
            StoredLesson(
                text=entry.content.removeprefix(MEMORY_PREFIX),
                source="llm" if entry.metadata.get("source") == "llm" else "rule",
                pattern=pattern if pattern in PATTERN_TYPES else "other",
                memory_id=entry.id,
                created_at=entry.created_at,
            )
        )
    return found


async def restore_lessons(
    memory: Memory,
    states: Mapping[str, NeuronLearning],
    settings: LearningConfig,
    lesson_ids: Iterator[int],
    server_id: str,
) -> None:
    """Put the lessons kept in memory back into their neurons' prompts (newest ``max_lessons``).

    Args:
        memory: the memory service holding the lessons' durable copies.
        states: the neurons' learning states, by neuron id.
        settings: the service's settings (``max_lessons``, ``max_lesson_chars``).
        lesson_ids: the service's lesson id sequence; each restored lesson takes the next.
        server_id: this server's id: only the lessons it stored come back.
    """
    for neuron_id, state in states.items():
        try:
            stored = await stored_lessons(memory, neuron_id, settings.max_lessons, server_id)
        except Exception as exc:  # noqa: BLE001 - the service runs without the lessons of earlier runs
            log.warning("learning.restore_failed", neuron_id=neuron_id, error=type(exc).__name__)
            return
        for entry in stored:
            text = clean(entry.text, settings.max_lesson_chars)
            if text and not state.lessons.knows(text):
                lesson = Lesson(next(lesson_ids), neuron_id, text, entry.source, entry.pattern, status="kept")
                lesson.memory_id, lesson.created_at = entry.memory_id, entry.created_at
                state.lessons.add(lesson)
