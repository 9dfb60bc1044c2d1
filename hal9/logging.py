"""structlog set-up: JSON lines off a terminal, readable console output on one.

Library code only calls ``structlog.get_logger()``; the CLI (the application) calls
:func:`configure_logging` once. Standard-library loggers (uvicorn's) are routed through
the same processors, so every line has one format, and every line, whatever its logger or
level, is scrubbed of credentials last (:mod:`hal9.redaction`): uvicorn logs a refused
WebSocket handshake with its query string, and at debug level its handshake headers.
Tracebacks never show local variables (they can hold API keys and request payloads).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from hal9.redaction import redact_rendered
from hal9.runtime.signal import current_signal

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def add_signal_context(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Add the trace and signal id of the signal the current task is processing.

    Reading a context variable costs far less than binding one per signal, so the
    per-hop path pays nothing for it when nothing is logged.
    """
    signal = current_signal.get()
    if signal is not None:
        event.setdefault("trace_id", signal.trace_id)
        event.setdefault("signal_id", signal.id)
    return event


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging.

    Args:
        level: debug, info, warning or error.
        fmt: ``json``, ``console``, or ``auto`` (console on a terminal, JSON otherwise).
        stream: where lines go; standard output by default.
    """
    out = stream if stream is not None else sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_signal_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if as_json:
        # Never render locals: they can hold API keys and request payloads.
        shared.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        # Not rich's traceback, which shows each frame's locals.
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    numeric = _LEVELS[level]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer, redact_rendered],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
