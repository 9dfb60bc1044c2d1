"""A :class:`~hal9.runtime.memory.MemoryRecord` checked and turned into the row the writer inserts.

Text is stored only if it is valid Unicode: a string with a lone surrogate (U+D800..U+DFFF
without its pair, which Python's JSON decoder makes of a ``"\\ud800"`` escape) has no
UTF-8 form, so every later read that encodes it (an HTTP answer, a prompt) would fail.
"""

from __future__ import annotations

import json
import re

from hal9.errors import InvalidMemoryEntry
from hal9.memory.writer import Row
from hal9.runtime.memory import MEMORY_KINDS, MemoryRecord

MAX_NEURON_ID_CHARS = 128
MAX_METADATA_CHARS = 16_384
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Not ASCII-escaped: a lone surrogate stays a character, which valid_text() finds, keys and values alike.
#: Built once: ``json.dumps`` with options builds an encoder per call.
_METADATA_JSON = json.JSONEncoder(default=str, allow_nan=False, ensure_ascii=False)


def entry_row(record: MemoryRecord, now: float, max_content_chars: int) -> Row:
    """The row of ``record`` stored at ``now``.

    Raises:
        InvalidMemoryEntry: empty or oversized content or metadata, text that is not valid Unicode,
            unknown kind, importance outside 0..1.
    """
    content, neuron_id = record.content, record.neuron_id
    if not isinstance(content, str) or not content.strip():
        raise InvalidMemoryEntry("content must be non-empty text")
    if len(content) > max_content_chars:
        raise InvalidMemoryEntry(f"content has {len(content)} characters; the limit is {max_content_chars}")
    if not valid_text(content):
        raise InvalidMemoryEntry("content must be valid Unicode text: it holds a lone surrogate (U+D800..U+DFFF)")
    if not isinstance(neuron_id, str) or not neuron_id or len(neuron_id) > MAX_NEURON_ID_CHARS:
        raise InvalidMemoryEntry(f"neuron_id must be 1-{MAX_NEURON_ID_CHARS} characters")
    if not valid_text(neuron_id):
        raise InvalidMemoryEntry("neuron_id must be valid Unicode text: it holds a lone surrogate")
    if record.kind not in MEMORY_KINDS:
        raise InvalidMemoryEntry(f"kind must be one of {', '.join(MEMORY_KINDS)}; got {record.kind!r}")
    importance = float(record.importance)
    if not 0.0 <= importance <= 1.0:  # also refuses NaN
        raise InvalidMemoryEntry(f"importance must be between 0 and 1; got {record.importance!r}")
    try:
        metadata = _METADATA_JSON.encode(dict(record.metadata)) if record.metadata else "{}"
    except (TypeError, ValueError) as exc:
        raise InvalidMemoryEntry(f"metadata must be a JSON object: {exc}") from None
    if len(metadata) > MAX_METADATA_CHARS:
        raise InvalidMemoryEntry(f"metadata is over {MAX_METADATA_CHARS} characters as JSON")
    if not valid_text(metadata):
        raise InvalidMemoryEntry("metadata must hold valid Unicode text: a key or value holds a lone surrogate")
    return (neuron_id, record.layer, record.kind, content, metadata, importance, now)


def valid_text(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (no lone surrogate); O(1) for ASCII text."""
    return text.isascii() or _SURROGATE.search(text) is None
