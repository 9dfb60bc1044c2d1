"""JSON request bodies the server can store and send back: UTF-8, finite numbers, valid Unicode.

Why: Python's JSON decoder accepts what JSON cannot carry back out: ``NaN``, ``Infinity``,
numbers that overflow to infinity (``1e999``) and ``"\\ud800"`` escapes, which decode to
lone surrogates. Such a value would get past validation (or fail it) and then break
whatever encoded it next: the 422 answer that echoed it, SQLite, a later read. Refusing
it when the body is decoded keeps every route, present and future, from seeing one.

Every router with a route that reads a body is built with ``route_class=JSONRoute`` and
included with a ``max_body_size`` (``create_app`` checks, with :func:`check_json_routes`).
A JSON body (``Content-Type: application/json`` or ``application/*+json``) of such a
route is decoded here, once, instead of by FastAPI:

- bytes that are not UTF-8: 400 ``{"detail": "..."}``;
- text that is not JSON, or nests too deeply: 422 ``json_invalid``, as FastAPI answers;
- a string with a lone surrogate (``string_unicode``) or a number that is not finite
  (``finite_number``): 422 whose ``loc`` names where, and which never echoes the value.

Other bodies (another content type) go to FastAPI as they are, and fail validation (422).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response

from hal9.server.encoding import Location, Problem, unencodable

#: What a 422 says about a value JSON cannot carry, by problem.
_REFUSALS: dict[Problem, tuple[str, str]] = {
    "surrogate": ("string_unicode", "text must be valid Unicode: this string holds a lone surrogate (\\ud800-\\udfff)"),
    "not_finite": ("finite_number", "Input should be a finite number"),
    "not_json": ("json_invalid", "not a JSON value"),
}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def decode(body: bytes) -> Any:
    """The JSON value of a request body.

    Raises:
        HTTPException: 400, the bytes are not UTF-8.
        RequestValidationError: 422, not JSON (or nested too deeply), or it holds a lone
            surrogate or a number that is not finite.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"the body is not UTF-8 text (byte {exc.start} is invalid)") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid_json(exc.pos, exc.msg) from None
    except (ValueError, RecursionError) as exc:  # integers over 4300 digits; arrays nested past the stack
        reason = "the JSON nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _invalid_json(0, reason) from None
    found = unencodable(value)
    if found is not None:
        raise refusal(*found)
    return value


def refusal(location: Location, problem: Problem) -> RequestValidationError:
    """The 422 of a body value JSON cannot carry; the value itself is not repeated."""
    kind, message = _REFUSALS[problem]
    return RequestValidationError([{"type": kind, "loc": ("body", *location), "msg": message}])


def _invalid_json(position: int, reason: str) -> RequestValidationError:
    # The shape FastAPI gives a body that does not parse.
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", position), "msg": "JSON decode error", "ctx": {"error": reason}}]
    )


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI would read a body of this media type as JSON."""
    if content_type is None:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class DecodedRequest(Request):
    """A request whose body was read and decoded already: FastAPI's ``json()`` gets that value."""

    def __init__(self, request: Request, body: bytes, value: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._body = body
        self._value = value

    async def json(self) -> Any:
        return self._value


class JSONRoute(APIRoute):
    """A route whose JSON body is decoded by :func:`decode` (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if self.body_field is None or isinstance(self.body_field.field_info, params.Form):
            return handler

        async def decoding_handler(request: Request) -> Response:
            if not is_json(request.headers.get("content-type")):
                return await handler(request)
            body = await request.body()
            if not body:
                return await handler(request)
            return await handler(DecodedRequest(request, body, decode(body)))

        return decoding_handler


def check_json_routes(app: FastAPI) -> None:
    """Refuse an app with a route that reads a body without :class:`JSONRoute`, or without a size limit.

    Raises:
        RuntimeError: naming the routes; build their router with ``route_class=JSONRoute`` and
            include it with ``max_body_size``.
    """
    unchecked = sorted(
        str(context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.original_route.body_field is not None
        and (not isinstance(context.original_route, JSONRoute) or getattr(context, "max_body_size", None) is None)
    )
    if unchecked:
        raise RuntimeError(
            f"routes that read a body without JSONRoute or max_body_size: {', '.join(unchecked)} (hal9.server.body)"
        )
