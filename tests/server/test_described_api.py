"""The OpenAPI description and the server agree (issue case 5).

The server coerced what the description did not allow (``"wait": "yes"``, ``importance:
false``...), refused what it allowed (short passwords, some key names, ``score`` with
``success``), answered statuses it did not describe, and ``OPTIONS /api/v1/auth/keys`` said
``Allow: GET``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hal9.auth.service import KEY_NAME, USERNAME
from tests.auth.conftest import OpenAuthApi
from tests.auth.helpers import AuthApi
from tests.server.conftest import FULL_SERVICES
from tests.server.helpers import Api, OpenApi, make_config

pytestmark = pytest.mark.anyio


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    described: dict[str, Any] = response.json()
    return described


def schema_of(described: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = described["components"]["schemas"][name]
    return found


# -- booleans are booleans, numbers are numbers ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/signals", {"content": "x", "wait": "yes"}, "wait"),
        ("/api/v1/signals", {"content": "x", "wait": 0}, "wait"),
        ("/api/v1/signals", {"content": "x", "wait": "true"}, "wait"),
        ("/api/v1/memory", {"content": "x", "importance": False}, "importance"),
        ("/api/v1/memory", {"content": "x", "importance": "0.5"}, "importance"),
        ("/api/v1/signals/x/feedback", {"score": True}, "score"),
        ("/api/v1/signals/x/feedback", {"success": 1}, "success"),
    ],
)
async def test_values_of_another_type_are_refused_not_coerced(
    full_api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    response = await full_api.client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert full_api.runtime.neuron("strategic").status.processed == 0


async def test_an_integer_is_a_number_and_an_enum_takes_its_text(full_api: Api) -> None:
    body = {"content": "x", "importance": 1, "layer": "L3", "kind": "lesson"}

    assert (await full_api.client.post("/api/v1/memory", json=body)).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/auth/users/olga", {"active": 0}),
        ("PATCH", "/api/v1/auth/users/olga", {"active": "false"}),
        ("POST", "/api/v1/auth/keys", {"name": "k", "expires_in_days": True}),
        ("POST", "/api/v1/auth/keys", {"name": "k", "expires_in_days": "30"}),
    ],
)
async def test_the_auth_routes_are_strict_too(
    open_auth_api: OpenAuthApi, method: str, path: str, body: dict[str, Any]
) -> None:
    api = await open_auth_api()

    response = await api.client.request(method, path, json=body, headers=api.admin())

    assert response.status_code == 422, response.text


# -- what the description allows, the server accepts; what it refuses, the server refuses ------


@pytest.mark.parametrize("minimum", [12, 16])
async def test_the_password_length_described_is_the_one_enforced(open_auth_api: OpenAuthApi, minimum: int) -> None:
    api = await open_auth_api(password_min_length=minimum)
    described = schema_of(await document(api.client), "CreateUserRequest")["properties"]["password"]

    short = await create_user(api, "shorty", "p" * (minimum - 1))
    enough = await create_user(api, "enough", "p" * minimum)

    assert described["minLength"] == minimum
    assert (short.status_code, enough.status_code) == (422, 201)


async def create_user(api: AuthApi, username: str, password: str) -> httpx.Response:
    return await api.client.post(
        "/api/v1/auth/users", json={"username": username, "password": password}, headers=api.admin()
    )


@pytest.mark.parametrize("name", ["a", "ci key", "deploy.bot@example-1", "A" * 64, "0_x"])
async def test_a_key_name_the_description_allows_is_accepted(open_auth_api: OpenAuthApi, name: str) -> None:
    api = await open_auth_api()
    pattern = schema_of(await document(api.client), "CreateKeyRequest")["properties"]["name"]["pattern"]
    assert re.fullmatch(pattern, name)

    response = await api.client.post("/api/v1/auth/keys", json={"name": name}, headers=api.admin())

    assert response.status_code == 201, response.text
    api.secrets.append(response.json()["key"])


@pytest.mark.parametrize("name", ["name\n", " lead", "<script>", "a" * 65, "caf\u00e9"])
async def test_a_key_name_the_description_refuses_is_refused(open_auth_api: OpenAuthApi, name: str) -> None:
    api = await open_auth_api()

    response = await api.client.post("/api/v1/auth/keys", json={"name": name}, headers=api.admin())

    assert response.status_code == 422, response.text


async def test_names_are_described_with_the_patterns_the_auth_service_uses(open_auth_api: OpenAuthApi) -> None:
    api = await open_auth_api()
    described = await document(api.client)

    assert schema_of(described, "CreateKeyRequest")["properties"]["name"]["pattern"] == KEY_NAME.pattern
    assert schema_of(described, "CreateUserRequest")["properties"]["username"]["pattern"] == USERNAME.pattern
    assert (await create_user(api, "bob\n", "p" * 12)).status_code == 422  # Python's $ would have let it in


async def test_score_and_success_are_described_as_exclusive_and_refused_together(full_api: Api) -> None:
    described = schema_of(await document(full_api.client), "FeedbackRequest")

    response = await full_api.client.post("/api/v1/signals/x/feedback", json={"score": 0.5, "success": True})

    assert [sorted(branch["required"]) for branch in described["oneOf"]] == [["score"], ["success"]]
    assert response.status_code == 422


async def test_limits_from_the_configuration_are_described(open_api: OpenApi, tmp_path: Path) -> None:
    config = make_config(
        data_dir=str(tmp_path / "data"),
        services=FULL_SERVICES,
        server={"max_content_chars": 50},
        memory={"max_content_chars": 70},
    )
    api = await open_api(config)
    described = await document(api.client)

    assert schema_of(described, "SignalRequest")["properties"]["content"]["maxLength"] == 50
    assert schema_of(described, "StoreRequest")["properties"]["content"]["maxLength"] == 70
    assert (await api.client.post("/api/v1/signals", json={"content": "x" * 51})).status_code == 413
    assert (await api.client.post("/api/v1/memory", json={"content": "x" * 71})).status_code == 413


# -- every status a route can answer is described ----------------------------------------------


async def test_every_status_is_described_with_its_body(open_auth_api: OpenAuthApi) -> None:
    api = await open_auth_api()
    described = await document(api.client)

    assert set(described["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    for path, operations in described["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            label = f"{method.upper()} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), label
            if path.startswith("/api/v1") and path not in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
                assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}], label
                assert {"401", "503"} <= set(responses), label
            if path.startswith(("/api/v1/auth/users", "/api/v1/auth/keys")):
                assert "403" in responses, label
            for status, answer in responses.items():
                if status >= "400":
                    assert "application/json" in answer["content"], f"{label} {status}"
    signals = described["paths"]["/api/v1/signals"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "413", "421", "422", "502", "503", "504"} <= set(signals)


async def test_without_auth_no_credentials_are_described(full_api: Api) -> None:
    described = await document(full_api.client)

    assert "securitySchemes" not in described["components"]
    neurons = described["paths"]["/api/v1/neurons"]["get"]
    assert "security" not in neurons
    assert "401" not in neurons["responses"]


async def test_a_body_over_the_limit_is_a_described_json_413(open_api: OpenApi) -> None:
    api = await open_api(make_config(server={"max_content_chars": 10}))
    body = b'{"content": "' + b"x" * 10_000 + b'"}'

    response = await api.client.post("/api/v1/signals", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Content Too Large"}


async def test_content_at_the_described_length_fits_in_the_body_however_it_is_escaped(open_api: OpenApi) -> None:
    """Every character escaped as a surrogate pair (12 bytes) still fits: the body limit counts for it."""
    api = await open_api(make_config(server={"max_content_chars": 100}))
    body = b'{"content": "' + b"\\ud83d\\ude00" * 100 + b'"}'

    response = await api.client.post("/api/v1/signals", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 202, response.text


# -- OPTIONS and 405 name every method of a path -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/auth/keys", "GET, POST, OPTIONS"),
        ("/api/v1/auth/users", "GET, POST, OPTIONS"),
        ("/api/v1/auth/keys/0123456789ab", "DELETE, OPTIONS"),
        ("/api/v1/memory/search", "GET, OPTIONS"),
        ("/api/v1/signals", "POST, OPTIONS"),
    ],
)
async def test_options_lists_every_method_of_the_path_without_credentials(
    open_auth_api: OpenAuthApi, path: str, allow: str
) -> None:
    api = await open_auth_api()

    response = await api.client.options(path)

    assert response.status_code == 204
    assert response.headers["allow"] == allow
    endpoint = "/api/v1/auth/keys/{key_id}" if path.endswith("89ab") else path  # counted under its template
    labels = {"method": "OPTIONS", "endpoint": endpoint, "status": "204"}
    assert api.runtime.metrics.sample("hal9_http_requests_total", labels) == 1


async def test_a_method_no_route_of_the_path_takes_is_405_naming_them_all(api: Api) -> None:
    response = await api.client.put("/api/v1/auth/keys")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_options_on_an_unknown_path_is_404(api: Api) -> None:
    assert (await api.client.options("/api/v1/nothing-here")).status_code == 404
