"""A fake Anthropic Messages API of our own, served over real HTTP on 127.0.0.1 by uvicorn.

The real SDK talks to it through ``base_url``. A test scripts what the next requests get
(``fake.fail(429)``, ``fake.slow()``, ``fake.malformed()``, ``fake.reply("text", ...)``);
anything unscripted gets a text answer with the default usage. Every request it saw is in
``fake.requests``. A request with ``"stream": true`` gets the same message as server-sent
events, the way the API streams it; a stream can be scripted to fail part-way
(``fake.stream_error("overloaded_error")``, ``fake.stream_cut()``, ``fake.stream_stall()``).
``fake.tool_use(name=..., arguments=...)`` answers with a tool call; a reply's ``{tool_result}``
is replaced by the content of the request's latest ``tool_result`` block.
"""

from __future__ import annotations

import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Seen:
    """One request the fake received."""

    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Answer:
    """What one request gets."""

    status: int = 200
    text: str = "fake answer"
    input_tokens: int = 10
    output_tokens: int = 5
    cache_write: int = 0
    cache_read: int = 0
    slow: bool = False
    malformed: bool = False
    tool_use: bool = False
    tool_name: str = "web_fetch"
    tool_input: dict[str, Any] = field(default_factory=lambda: {"url": "x"})
    #: Streams only: an ``error`` event of this type after the first text delta.
    stream_error: str | None = None
    #: Streams only: the connection is dropped after the first text delta.
    stream_cut: bool = False
    #: Streams only: nothing more after ``message_start`` until the test ends.
    stream_stall: bool = False


@dataclass
class FakeAnthropic:
    """The fake's script and record; ``base_url`` is set once it listens."""

    base_url: str = ""
    default: Answer = field(default_factory=Answer)
    script: deque[Answer] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    release: anyio.Event = field(default_factory=anyio.Event)
    slow_started: anyio.Event = field(default_factory=anyio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    two_in_flight: anyio.Event = field(default_factory=anyio.Event)

    def reply(self, text: str = "fake answer", **usage: int) -> None:
        self.script.append(Answer(text=text, **usage))

    def fail(self, status: int, times: int = 1) -> None:
        self.script.extend(Answer(status=status) for _ in range(times))

    def slow(self, times: int = 1) -> None:
        """Answer only when the test ends (the client's timeout fires first)."""
        self.script.extend(Answer(slow=True) for _ in range(times))

    def tool_use(
        self, text: str = "Let me look that up.", *, name: str = "web_fetch", arguments: dict[str, Any] | None = None
    ) -> None:
        """A ``tool_use`` turn: a text block, then a call of tool ``name`` (stop reason ``tool_use``)."""
        self.script.append(Answer(text=text, tool_use=True, tool_name=name, tool_input=arguments or {"url": "x"}))

    def malformed(self) -> None:
        self.script.append(Answer(malformed=True))

    def stream_error(self, error_type: str = "overloaded_error") -> None:
        self.script.append(Answer(stream_error=error_type))

    def stream_cut(self) -> None:
        self.script.append(Answer(stream_cut=True))

    def stream_stall(self) -> None:
        self.script.append(Answer(stream_stall=True))

    async def handle(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(Seen(dict(request.headers), body))
        answer = self.script.popleft() if self.script else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= 2:
            self.two_in_flight.set()
        try:
            return await self._answer(body, answer)
        finally:
            self.in_flight -= 1

    async def _answer(self, body: dict[str, Any], answer: Answer) -> Response:
        if answer.slow:
            self.slow_started.set()
            await self.release.wait()
        if answer.malformed:
            return Response('{"id": "msg_1", "content": [', media_type="application/json")
        if answer.status != 200:
            error = {
                "type": "error",
                "error": {"type": _ERROR_TYPES.get(answer.status, "api_error"), "message": "fake"},
            }
            # The SDK honours retry-after-ms, so its retries cost a millisecond here.
            return JSONResponse(error, status_code=answer.status, headers={"retry-after-ms": "1"})
        usage = {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cache_creation_input_tokens": answer.cache_write,
            "cache_read_input_tokens": answer.cache_read,
        }
        text = answer.text.replace("{tool_result}", _latest_tool_result(body))
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if answer.tool_use:
            tool_id = f"toolu_{len(self.requests)}"
            content.append({"type": "tool_use", "id": tool_id, "name": answer.tool_name, "input": answer.tool_input})
        message: dict[str, Any] = {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "tool_use" if answer.tool_use else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if body.get("stream"):
            return StreamingResponse(self._stream(message, answer), media_type="text/event-stream")
        return Response(json.dumps(message), media_type="application/json")

    async def _stream(self, message: dict[str, Any], answer: Answer) -> AsyncIterator[str]:
        """The message as the API streams it; failures scripted by ``answer`` part-way."""
        for name, data in _events(message):
            yield f"event: {name}\ndata: {json.dumps(data)}\n\n"
            if name == "message_start" and answer.stream_stall:
                self.slow_started.set()
                await self.release.wait()
                return
            if name == "content_block_delta" and answer.stream_error is not None:
                error = {"type": "error", "error": {"type": answer.stream_error, "message": "fake"}}
                yield f"event: error\ndata: {json.dumps(error)}\n\n"
                return
            if name == "content_block_delta" and answer.stream_cut:
                # Raising inside the body makes the server drop the connection mid-response.
                raise ConnectionAbortedError("the fake cuts the stream")


def _events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events for a whole message: start, each block in deltas, the usage, stop."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield (
        "message_start",
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}},
    )
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            text = block["text"]
            for at in range(0, max(len(text), 1), 8):
                delta = {"type": "text_delta", "text": text[at : at + 8]}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            start = {**block, "input": {}}
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


def _latest_tool_result(body: dict[str, Any]) -> str:
    """The content of the last ``tool_result`` block of the request's messages ("" if none)."""
    for message in reversed(body.get("messages", [])):
        content = message.get("content")
        if isinstance(content, list):
            for block in reversed(content):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    result = block.get("content", "")
                    return result if isinstance(result, str) else json.dumps(result)
    return ""


@asynccontextmanager
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """Serve a fake on a free port of 127.0.0.1 for the duration of the block."""
    fake = FakeAnthropic()
    app = Starlette(routes=[Route("/v1/messages", fake.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before uvicorn starts: the first request waits in the backlog, no polling needed.
    sock.listen(128)
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_config=None, lifespan="off", ws="none", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                yield fake
            finally:
                fake.release.set()
                server.should_exit = True
    finally:
        sock.close()
