"""A :class:`~hal9.runtime.memory.MemoryRecord` checked and turned into the row the writer inserts."""

from __future__ import annotations

import json

from hal9.memory.errors import InvalidMemoryEntry
from hal9.memory.writer import Row
from hal9.runtime.memory import MEMORY_KINDS, MemoryRecord

MAX_NEURON_ID_CHARS = 128
MAX_METADATA_CHARS = 16_384


def entry_row(record: MemoryRecord, now: float, max_content_chars: int) -> Row:
    """The row of ``record`` stored at ``now``.

    Raises:
        InvalidMemoryEntry: empty or oversized content or metadata, unknown kind, importance outside 0..1.
    """
    content, neuron_id = record.content, record.neuron_id
    if not isinstance(content, str) or not content.strip():
        raise InvalidMemoryEntry("content must be non-empty text")
    if len(content) > max_content_chars:
        raise InvalidMemoryEntry(f"content has {len(content)} characters; the limit is {max_content_chars}")
    if not isinstance(neuron_id, str) or not neuron_id or len(neuron_id) > MAX_NEURON_ID_CHARS:
        raise InvalidMemoryEntry(f"neuron_id must be 1-{MAX_NEURON_ID_CHARS} characters")
    if record.kind not in MEMORY_KINDS:
        raise InvalidMemoryEntry(f"kind must be one of {', '.join(MEMORY_KINDS)}; got {record.kind!r}")
    importance = float(record.importance)
    if not 0.0 <= importance <= 1.0:  # also refuses NaN
        raise InvalidMemoryEntry(f"importance must be between 0 and 1; got {record.importance!r}")
    try:
        metadata = json.dumps(dict(record.metadata), default=str, allow_nan=False) if record.metadata else "{}"
    except (TypeError, ValueError) as exc:
        raise InvalidMemoryEntry(f"metadata must be a JSON object: {exc}") from None
    if len(metadata) > MAX_METADATA_CHARS:
        raise InvalidMemoryEntry(f"metadata is over {MAX_METADATA_CHARS} characters as JSON")
    return (neuron_id, record.layer, record.kind, content, metadata, importance, now)
