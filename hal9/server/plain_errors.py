"""Error answers that Starlette sends as plain text go out as JSON, like every other error.

Why: Starlette's request body limit answers a body over ``max_body_size`` with its own
``413 Content Too Large`` in ``text/plain``, outside FastAPI's error handlers (when the
client announced the size, it replaces whatever answer the app started). The API
describes every error as JSON ``{"detail": "..."}``; :class:`JSONErrorBodies` (pure ASGI
middleware) turns such a plain-text error answer into that, keeping its status and headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hal9.server.encoding import dumps

#: Headers that describe the body, replaced with the JSON body's.
_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


def _plain_text(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/plain") for name, value in headers)


class JSONErrorBodies:
    """Rewrites a plain-text answer with a status of 400 or more as ``{"detail": <its text>}``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_as_json(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] >= 400 and _plain_text(message.get("headers", [])):
                    held = message  # sent with the JSON body, once the text is in
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = dumps({"detail": b"".join(chunks).decode("utf-8", "replace")})
                kept = held.get("headers", [])
                headers = [(name, value) for name, value in kept if name.lower() not in _BODY_HEADERS]
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_as_json)
