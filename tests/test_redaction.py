"""No credential survives into a log line: every rendered line is scrubbed, whatever logger wrote it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from hal9.logging import configure_logging
from hal9.redaction import redact

KEY = "hal9_0123456789ab_" + "S" * 43
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwidHlwZSI6ImFjY2VzcyJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'127.0.0.1:5 - "WebSocket /ws?api_key={KEY}" 403', '127.0.0.1:5 - "WebSocket /ws?[redacted]" 403'),
        (f"< GET /ws?{KEY}&x=1 HTTP/1.1", "< GET /ws?[redacted] HTTP/1.1"),
        (f"http://127.0.0.1:8080/api/v1/neurons?token={JWT}", "http://127.0.0.1:8080/api/v1/neurons?[redacted]"),
        (f"< authorization: Bearer {JWT}", "< authorization: [redacted]"),
        (f"< X-API-Key: {KEY}", "< X-API-Key: [redacted]"),
        (f"< sec-websocket-protocol: hal9.events, hal9.bearer.{KEY}", "< sec-websocket-protocol: [redacted]"),
        (f"sent bearer {JWT}, then", "sent bearer [redacted], then"),
        (f"key {KEY} used", "key hal9_0123456789ab_[redacted] used"),  # the public id stays
        (f"offered hal9.bearer.{JWT}", "offered hal9.bearer.[redacted]"),
        (f"token={JWT}", "token=[redacted]"),
        ("ANTHROPIC_API_KEY=sk-ant-api03-abcDEF_123", "ANTHROPIC_API_KEY=sk-ant-[redacted]"),
    ],
)
def test_credentials_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "server.listening http://127.0.0.1:8080",
        "hal9_auth_attempts_total and hal9.auth.service",
        '{"event": "auth.login", "user_id": 3, "level": "info"}',
        "why? because / it is so",
    ],
)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """``configure_logging`` at debug level, JSON, into a buffer; the previous set-up restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


def test_uvicorn_and_websockets_lines_are_scrubbed_at_every_level(logged: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" 403', "127.0.0.1:5", f"/ws?api_key={KEY}")
    logging.getLogger("uvicorn.error").debug("< %s: %s", "authorization", f"Bearer {JWT}")
    logging.getLogger("websockets.server").debug("< %s: %s", "x-api-key", KEY)
    structlog.get_logger("hal9.test").warning("hal9.event", detail=f"sent {JWT}")
    try:
        raise ValueError(f"boom {KEY}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    text = logged.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # still valid JSON after scrubbing
    assert len(lines) == 5
    assert "S" * 43 not in text
    assert JWT.split(".")[2] not in text
    assert '"WebSocket /ws?[redacted]\\" 403' in text
