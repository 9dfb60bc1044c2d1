"""Input JSON cannot carry back out is refused with a 4xx that says so, never a 500 (issue case 1).

A lone surrogate (``"\\ud800"``) or a number that is not finite (``NaN``, ``Infinity``,
``1e999``) used to pass into a 422 that echoed it, and that answer could not be encoded:
500, connection dropped. They are refused where the body is decoded, naming where.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hal9.server.errors import validation_item
from tests.auth.conftest import OpenAuthApi
from tests.server.helpers import Api

JSON = {"content-type": "application/json"}


def assert_refused(response: Any, kind: str, loc: list[Any]) -> None:
    """A 422 naming the location and kind of the refused value, without echoing it."""
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == (kind, loc)
    assert "input" not in error


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/signals", rb'{"content": "\ud800"}', ["body", "content"]),
        ("/api/v1/signals", rb'{"content": "\ud800", "wait": 3}', ["body", "content"]),
        ("/api/v1/memory", rb'{"content": "\ud800"}', ["body", "content"]),
        ("/api/v1/memory", rb'{"content": "x", "metadata": {"a": ["ok", "\udfff"]}}', ["body", "metadata", "a", 1]),
        ("/api/v1/memory", rb'{"content": "x", "metadata": {"\udc80": 1}}', ["body", "metadata", "\ufffd"]),
        ("/api/v1/signals/x/feedback", rb'{"score": 1, "comment": "\udc80"}', ["body", "comment"]),
    ],
)
async def test_a_lone_surrogate_is_refused_with_422_naming_where(
    full_api: Api, path: str, body: bytes, loc: list[Any]
) -> None:
    response = await full_api.client.post(path, content=body, headers=JSON)

    assert_refused(response, "string_unicode", loc)
    assert full_api.runtime.neuron("strategic").status.processed == 0


@pytest.mark.anyio
@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
@pytest.mark.parametrize(
    ("path", "template", "field"),
    [
        ("/api/v1/memory", b'{"content": "x", "importance": %s}', "importance"),
        ("/api/v1/signals", b'{"content": "x", "wait": %s}', "wait"),
        ("/api/v1/signals/x/feedback", b'{"score": %s}', "score"),
    ],
)
async def test_a_number_that_is_not_finite_is_refused_with_422(
    full_api: Api, number: bytes, path: str, template: bytes, field: str
) -> None:
    response = await full_api.client.post(path, content=template % number, headers=JSON)

    assert_refused(response, "finite_number", ["body", field])


@pytest.mark.anyio
async def test_the_auth_routes_refuse_the_same_way(open_auth_api: OpenAuthApi) -> None:
    """The body is decoded before anything else, credentials too (as FastAPI does with JSON that does not parse)."""
    api = await open_auth_api()
    login = rb'{"username": "\ud800", "password": "x"}'
    key = b'{"name": "k", "expires_in_days": 1e999}'

    assert_refused(
        await api.client.post("/api/v1/auth/login", content=login, headers=JSON), "string_unicode", ["body", "username"]
    )
    created = await api.client.post("/api/v1/auth/keys", content=key, headers={**JSON, **api.admin()})
    assert_refused(created, "finite_number", ["body", "expires_in_days"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        pytest.param(b'{"content": "\xff\xfe"}', JSON, 400, id="not-utf8"),
        pytest.param('{"content": "x"}'.encode("utf-16"), JSON, 400, id="utf16"),
        pytest.param(b"{content: x", JSON, 422, id="not-json"),
        pytest.param(b"[" * 100_000, JSON, 422, id="nested-past-the-stack"),
        pytest.param(b'{"content": "x", "wait": ' + b"9" * 5000 + b"}", JSON, 422, id="integer-over-4300-digits"),
        pytest.param(b"\xff\x00\xfe", {}, 422, id="no-content-type-binary"),
        pytest.param(b"\xff\x00\xfe", {"content-type": "text/plain"}, 422, id="text-plain-binary"),
    ],
)
async def test_bodies_that_are_not_json_text_get_a_json_4xx(
    api: Api, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await api.client.post("/api/v1/signals", content=body, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert api.runtime.neuron("strategic").status.processed == 0


@pytest.mark.anyio
async def test_a_refused_value_that_can_be_encoded_is_still_echoed(api: Api) -> None:
    response = await api.client.post("/api/v1/signals", json={"content": "x", "wait": "yes"})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"], error["input"]) == ("bool_type", ["body", "wait"], "yes")


@pytest.mark.parametrize(
    "error",
    [
        {"type": "x", "loc": ("body", "\ud800"), "msg": "bad \udfff", "input": "\ud800"},
        {"type": "x", "loc": ("body",), "msg": "m", "input": math.nan, "ctx": {"limit": math.inf}},
        {"type": "x", "loc": ("body",), "msg": "m", "input": b"\xff\xfe", "ctx": {"error": ValueError("\ud800")}},
        {"type": "x", "loc": ("body",), "msg": "m", "input": {"a": [1, {"b": "\udc80"}]}},
        {"type": "x", "loc": ("body",), "msg": "m", "input": "x" * 10_000},
        "not even a dict \ud800",
    ],
)
def test_any_validation_error_becomes_an_item_json_can_carry(error: Any) -> None:
    item = validation_item(error, echo=True)

    json.dumps(item, allow_nan=False).encode("utf-8")  # raises if it cannot be encoded
    assert "input" not in item
