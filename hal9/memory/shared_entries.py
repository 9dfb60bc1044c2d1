"""The memory stream's messages: a batch of entries one server stored, or of entries it forgot, as JSON.

A message carries the entries of one origin (a server's database: ``<server_id>/<identity>``),
each as its id there and the row the writer inserts; or the keys of entries forgotten there, each
``[origin, id there]`` (an entry that server imported has another origin). What another server
sends is input: every field is checked as a local store checks it, and an entry or a key that
fails is left out (counted), so a bad message never reaches SQLite.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hal9.memory.rows import MAX_METADATA_CHARS, MAX_NEURON_ID_CHARS, valid_text
from hal9.memory.writer import Row
from hal9.runtime.memory import MEMORY_KINDS
from hal9.support.messages import load_message

#: The header naming a message's origin, so that a server skips its own messages unread.
ORIGIN_HEADER = "Hal9-Origin"
#: Format version; a message of another version is refused.
VERSION = 1
MAX_ORIGIN_CHARS = 200
MAX_LAYER_CHARS = 16


@dataclass(frozen=True, slots=True)
class SharedBatch:
    """What one message held.

    Attributes:
        origin: the database the entries were stored in, or forgotten in (``<server_id>/<identity>``).
        entries: ``(id at the origin, row)`` of each valid entry.
        rejected: entries and keys left out as invalid.
        forgets: the keys ``(origin, id there)`` of the entries forgotten.
    """

    origin: str
    entries: list[tuple[int, Row]]
    rejected: int
    forgets: list[tuple[str, int]] = field(default_factory=list)


def encode_entry(entry_id: int, row: Row) -> bytes:
    """One entry (its id here and its row) as the JSON that :func:`encode` puts in a message."""
    return json.dumps([entry_id, *row], ensure_ascii=False).encode()


def encode(origin: str, entries: list[bytes]) -> bytes:
    """One message of ``entries`` (each from :func:`encode_entry`) stored in ``origin``."""
    head = json.dumps({"v": VERSION, "origin": origin})[:-1].encode()
    return head + b', "entries": [' + b",".join(entries) + b"]}"


def encode_forgets(origin: str, keys: list[tuple[str, int]]) -> bytes:
    """One message of the keys ``(origin, id there)`` of entries forgotten in ``origin``."""
    return json.dumps({"v": VERSION, "origin": origin, "entries": [], "forgets": keys}).encode()


#: The bytes a message takes besides its entries (the origin at its longest, the separators).
OVERHEAD = 64 + MAX_ORIGIN_CHARS * 6


def decode(data: bytes, max_content_chars: int) -> SharedBatch:
    """Read a message; invalid entries are left out and counted.

    Raises:
        ValueError: not a message of this format (not JSON, another version, no origin).
    """
    message = load_message(data, VERSION, "not a memory message of version 1")
    origin, entries = message.get("origin"), message.get("entries")
    if not isinstance(origin, str) or not 0 < len(origin) <= MAX_ORIGIN_CHARS or not isinstance(entries, list):
        raise ValueError("a memory message needs an origin and a list of entries")
    valid: list[tuple[int, Row]] = []
    for item in entries:
        entry = _entry(item, max_content_chars)
        if entry is not None:
            valid.append(entry)
    keys = message.get("forgets", [])
    if not isinstance(keys, list):
        raise ValueError("a memory message's forgets must be a list")
    forgets = [(str(key[0]), int(key[1])) for key in keys if _key(key)]
    return SharedBatch(origin, valid, len(entries) - len(valid) + len(keys) - len(forgets), forgets)


def _key(item: Any) -> bool:
    """Whether ``item`` is the key ``[origin, id there]`` of an entry."""
    return (
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and 0 < len(item[0]) <= MAX_ORIGIN_CHARS
        and valid_text(item[0])
        and isinstance(item[1], int)
        and not isinstance(item[1], bool)
        and 0 < item[1] < 2**63
    )


def _entry(item: Any, max_content_chars: int) -> tuple[int, Row] | None:
    """One entry checked as a local store checks it; None if it fails."""
    if not isinstance(item, list) or len(item) != 8:
        return None
    entry_id, neuron_id, layer, kind, content, metadata, importance, created_at = item
    checks = (
        isinstance(entry_id, int) and not isinstance(entry_id, bool) and 0 < entry_id < 2**63,
        isinstance(neuron_id, str) and 0 < len(neuron_id) <= MAX_NEURON_ID_CHARS and valid_text(neuron_id),
        layer is None or (isinstance(layer, str) and len(layer) <= MAX_LAYER_CHARS and valid_text(layer)),
        kind in MEMORY_KINDS,
        isinstance(content, str) and 0 < len(content) <= max_content_chars and bool(content.strip()),
        isinstance(metadata, str) and len(metadata) <= MAX_METADATA_CHARS,
        isinstance(importance, int | float) and not isinstance(importance, bool) and 0.0 <= importance <= 1.0,
        isinstance(created_at, int | float) and not isinstance(created_at, bool) and math.isfinite(created_at),
    )
    if not all(checks) or not valid_text(content) or not _json_object(metadata):
        return None
    return entry_id, (neuron_id, layer, kind, content, metadata, float(importance), float(created_at))


def _json_object(text: str) -> bool:
    if not valid_text(text):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
