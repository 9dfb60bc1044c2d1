"""Every /api/v1 route needs credentials and the right permission; /health and /ready never; /metrics its own token."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from hal9 import Runtime
from hal9.auth import ROLE_PERMISSIONS, Permission, Role
from hal9.errors import ConfigError
from hal9.server import create_app
from hal9.server.auth import check_gated, require, routes
from tests.auth.conftest import OpenAuthApi
from tests.auth.helpers import AuthApi, auth_config, bearer

pytestmark = pytest.mark.anyio

PUBLIC = {"/api/v1/auth/login", "/api/v1/auth/refresh"}


def api_routes(api: AuthApi) -> list[tuple[str, str]]:
    """(method, path with its parameters filled in) of every /api/v1 route of the app."""
    found = []
    for route in routes(api.app):
        if str(route.path).startswith("/api/v1") and route.path not in PUBLIC:
            path = re.sub(r"\{[^}]+\}", "1", str(route.path))
            found.extend((method, path) for method in sorted(route.methods or ()))
    return found


async def test_every_api_route_refuses_a_caller_without_credentials(api: AuthApi) -> None:
    routes = api_routes(api)
    assert len(routes) >= 14  # signals, neurons, llm, memory and auth routes
    for method, path in routes:
        response = await api.client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
    assert api.sample("hal9_http_requests_total", method="GET", endpoint="/api/v1/neurons", status="401") == 1


async def test_health_and_ready_never_need_credentials(api: AuthApi) -> None:
    assert (await api.client.get("/health")).status_code == 200
    assert (await api.client.get("/ready")).status_code == 200
    assert (await api.client.get("/metrics")).status_code == 200  # no metrics_token configured


async def test_a_viewer_reads_but_cannot_write_or_administer(api: AuthApi) -> None:
    viewer = bearer((await api.user("vic", Role.VIEWER))["access_token"])
    assert (await api.client.get("/api/v1/neurons", headers=viewer)).status_code == 200
    assert (await api.client.get("/api/v1/llm/usage", headers=viewer)).status_code == 200
    assert (await api.client.get("/api/v1/signals/unknown", headers=viewer)).status_code == 404
    submit = await api.client.post("/api/v1/signals", headers=viewer, json={"content": "hello"})
    assert submit.status_code == 403
    assert submit.json() == {"detail": "this needs the permission 'signals:write', which your role does not have"}
    for method, path in (
        ("GET", "/api/v1/auth/users"),
        ("POST", "/api/v1/auth/keys"),
        ("GET", "/api/v1/auth/keys"),
        ("DELETE", "/api/v1/memory/1"),
    ):
        response = await api.client.request(method, path, headers=viewer, json={"name": "mine", "role": "admin"})
        assert response.status_code == 403, (method, path)
    assert api.sample("hal9_http_requests_total", method="GET", endpoint="/api/v1/auth/users", status="403") == 1


async def test_an_operator_submits_but_cannot_administer(api: AuthApi) -> None:
    operator = {"X-API-Key": await api.key(Role.OPERATOR)}
    response = await api.client.post(
        "/api/v1/signals", headers=operator, json={"content": "Build a todo app", "wait": True}
    )
    assert response.status_code == 200, response.text
    assert (await api.client.get(response.headers["Location"], headers=operator)).status_code == 200
    created = await api.client.post(
        "/api/v1/auth/users", headers=operator, json={"username": "eve", "password": "x" * 20, "role": "admin"}
    )
    assert created.status_code == 403


async def test_an_admin_manages_users(api: AuthApi) -> None:
    created = await api.client.post(
        "/api/v1/auth/users",
        headers=api.admin(),
        json={"username": "eve", "password": "long enough pass", "role": "operator"},
    )
    assert created.status_code == 201
    assert "password" not in created.text
    duplicate = await api.client.post(
        "/api/v1/auth/users", headers=api.admin(), json={"username": "EVE", "password": "long enough pass"}
    )
    assert duplicate.status_code == 409
    short = await api.client.post(
        "/api/v1/auth/users", headers=api.admin(), json={"username": "bo", "password": "short"}
    )
    assert short.status_code == 422
    users = (await api.client.get("/api/v1/auth/users", headers=api.admin())).json()
    assert [(u["username"], u["role"], u["active"]) for u in users] == [("eve", "operator", True)]
    missing = await api.client.patch("/api/v1/auth/users/nobody", headers=api.admin(), json={"active": False})
    assert missing.status_code == 404


async def test_metrics_needs_its_own_token_when_one_is_configured(open_auth_api: OpenAuthApi) -> None:
    api = await open_auth_api(metrics_token="scrape-token-0123456789")
    assert (await api.client.get("/metrics")).status_code == 401
    assert (await api.client.get("/metrics", headers=bearer("wrong-token-0123456789"))).status_code == 401
    # An admin key is not the metrics token: scraping is its own credential.
    assert (await api.client.get("/metrics", headers=bearer(api.admin_key))).status_code == 401
    response = await api.client.get("/metrics", headers=bearer("scrape-token-0123456789"))
    assert response.status_code == 200
    assert "hal9_auth_attempts_total" in response.text
    assert (await api.client.get("/health")).status_code == 200


def test_the_role_table_nests_viewer_in_operator_in_admin() -> None:
    assert ROLE_PERMISSIONS[Role.VIEWER] < ROLE_PERMISSIONS[Role.OPERATOR] < ROLE_PERMISSIONS[Role.ADMIN]
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.USERS_ADMIN not in ROLE_PERMISSIONS[Role.OPERATOR]


def test_an_app_with_an_ungated_api_route_is_refused() -> None:
    router = APIRouter(prefix="/api/v1/things")

    @router.get("")
    async def things() -> list[str]:
        return []

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match=r"routes without a permission: /api/v1/things"):
        check_gated(app)
    gated = FastAPI()
    gated.include_router(router, dependencies=[require(Permission.SIGNALS_READ)])
    check_gated(gated)


def test_auth_on_without_an_auth_service_fails_closed(tmp_path: Path) -> None:
    runtime = Runtime(auth_config(tmp_path))
    with pytest.raises(ConfigError, match="no auth service"):
        create_app(runtime)


async def test_with_auth_off_every_caller_is_the_anonymous_admin(tmp_path: Path) -> None:
    """Auth off (loopback only): no credentials needed; the auth routes that need the service say it is off."""
    config = auth_config(tmp_path, enabled=False)
    async with Runtime(config) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/api/v1/neurons")).status_code == 200
            me = (await client.get("/api/v1/auth/me")).json()
            assert (me["kind"], me["role"]) == ("anonymous", "admin")
            login = await client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
            assert login.status_code == 503
            assert "authentication is disabled" in login.json()["detail"]
