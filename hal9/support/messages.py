"""Reading a versioned JSON message from another server: an object whose ``"v"`` is the version expected."""

from __future__ import annotations

import json
from typing import Any


def load_message(data: bytes, version: int, refusal: str) -> dict[str, Any]:
    """The JSON object of ``data``, which must carry ``"v": version``.

    Raises:
        ValueError: not JSON (``not JSON: ...``), or not an object of that version (``refusal``).
    """
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != version:
        raise ValueError(refusal)
    return message
