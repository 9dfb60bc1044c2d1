"""What JSON can carry: finding, and replacing, the values it cannot.

Python values that JSON text cannot hold: strings with lone surrogates (code points
U+D800..U+DFFF without their pair; Python's JSON decoder makes them from ``"\\ud800"``
escapes, and they have no UTF-8 form), floats that are not finite (``NaN``, ``Infinity``,
and ``1e999``, which overflows to infinity), and anything that is not a JSON type (bytes,
exceptions). Encoding one fails, so an answer that carries one would be a 500.

:func:`unencodable` finds the first such value (the request edge refuses it, with its
location); :func:`scrub` makes a copy JSON can carry (for answers that must go out
whatever they hold: errors, stored entries, neuron outputs); :class:`SafeJSONResponse`
renders with :func:`scrub` when plain rendering fails.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from starlette.responses import JSONResponse

#: A lone surrogate: a Python string that holds one has no UTF-8 form.
SURROGATE = re.compile("[\ud800-\udfff]")
#: What takes the place of a lone surrogate in an answer (U+FFFD REPLACEMENT CHARACTER).
REPLACEMENT = "\ufffd"

Location = tuple[str | int, ...]
Problem = Literal["surrogate", "not_finite", "not_json"]


def valid_text(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (no lone surrogate); O(1) for ASCII text."""
    return text.isascii() or SURROGATE.search(text) is None


def unencodable(value: Any) -> tuple[Location, Problem] | None:
    """Where ``value`` holds something JSON cannot carry, and what; None when it can be encoded.

    Walks dicts (keys too) and lists without recursion, so any depth is safe.
    """
    stack: list[tuple[Any, Location]] = [(value, ())]
    while stack:
        item, location = stack.pop()
        if isinstance(item, str):
            if not valid_text(item):
                return location, "surrogate"
        elif isinstance(item, bool | int) or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return location, "not_finite"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return location, "not_json"
                if not valid_text(key):
                    return (*location, key), "surrogate"
                stack.append((child, (*location, key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*location, index)) for index, child in enumerate(item))
        else:
            return location, "not_json"
    return None


def scrub(value: Any) -> Any:
    """A copy of ``value`` that JSON can carry.

    Lone surrogates become U+FFFD, floats that are not finite become null, bytes are
    decoded (invalid bytes replaced), dict keys become text and any other object its
    ``str()``. Values that need nothing are returned as they are.
    """
    if isinstance(value, str):
        return value if valid_text(value) else SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {scrub(key if isinstance(key, str) else str(key)): scrub(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(child) for child in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return scrub(str(value))


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON of ``content``, scrubbed first only if it needs to be."""
    try:
        return _dumps(content)
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return _dumps(scrub(content))


#: Built once: ``json.dumps`` with options builds an encoder per call.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(content: Any) -> bytes:
    return _COMPACT_JSON.encode(content).encode("utf-8")


class SafeJSONResponse(JSONResponse):
    """A JSON response that always renders: what JSON cannot carry is scrubbed (see :func:`scrub`)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
