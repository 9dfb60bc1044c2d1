"""Credentials never reach a log line: every rendered line is scrubbed before it is written.

HAL9's own events never carry a secret (they name a key by its public id, a user by id).
Other libraries' lines can: uvicorn logs a refused WebSocket handshake with its raw query
string (``"WebSocket /ws?api_key=..." 403``), and at debug level the ``websockets`` protocol
logs every handshake header (``Authorization: Bearer ...``). So :func:`redact` runs over
the finished line, whatever logger, level or format it came from:

- a query string after a path is dropped (``/ws?api_key=x`` -> ``/ws?[redacted]``): a
  query can carry anything, its names included, and no HAL9 route needs it in a log;
- the values of credential headers (``Authorization``, ``X-API-Key``, ``Cookie``,
  ``Sec-WebSocket-Protocol`` ...) and of ``Bearer <token>``;
- anything shaped like a HAL9 API key (its public id is kept: ``hal9_<id>_[redacted]``), a
  JWT, a ``/ws`` credential subprotocol (``hal9.bearer.<token>``) or an Anthropic API key.

Passwords have no shape to recognise; they are only ever in request bodies, which nothing logs.
The patterns are simple and linear; a log line pays a few regular-expression scans, and the
per-signal path logs nothing.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A request target's query: from '?' to the end of the token (stops at a quote, backslash, space).
    (re.compile(r"(/[^\s\"'\\?]*)\?[^\s\"'\\]*"), rf"\1?{REDACTED}"),
    # Credential headers as http libraries log them ("< Authorization: Bearer ...").
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|x-api-key|cookie|set-cookie|sec-websocket-protocol)"
            r"(\s*:\s*)[^\"\\\r\n]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"'\\,]+"), rf"\1 {REDACTED}"),
    # Secret shapes, wherever they are.
    (re.compile(r"\bhal9_([0-9a-f]{12})_[A-Za-z0-9_-]+"), rf"hal9_\1_{REDACTED}"),
    (re.compile(r"\bhal9\.bearer\.[^\s\"'\\,]+"), f"hal9.bearer.{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]+"), f"sk-ant-{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with query strings, credential header values and secret-shaped tokens replaced."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """The last structlog processor: scrub the rendered line (a ``str``, or ``bytes`` left alone)."""
    return redact(rendered) if isinstance(rendered, str) else rendered
