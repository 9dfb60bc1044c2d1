"""JWT attacks are refused with 401 and counted: forged, tampered, expired, wrong type, reused, logged out."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from hal9.auth import AuthError, AuthService, NotAuthenticated, Role
from hal9.auth.keys import parse as parse_api_key
from hal9.auth.service import KEY_NAME, USERNAME
from hal9.config import AuthConfig
from tests.auth.conftest import OpenAuthApi
from tests.auth.helpers import FAST_HASHING, PASSWORD, AuthApi, bearer

pytestmark = pytest.mark.anyio

REFUSED = ("hal9_service_operations_total", {"service": "auth", "operation": "authenticate", "status": "error"})


def signing_key(tmp_path: Path) -> str:
    """The key the server generated on first start (in data_dir, readable by its owner only)."""
    path = tmp_path / "data" / "auth-signing.key"
    assert path.stat().st_mode & 0o077 == 0
    return path.read_text().strip()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "1", "role": "admin", "jti": "x" * 32, "iat": now, "exp": now + 600, "type": "access"}
    return {**base, "iss": "hal9", "aud": "hal9-api", **overrides}


async def refused(api: AuthApi, token: str, path: str = "/api/v1/neurons") -> str:
    """GET ``path`` with the token: 401, counted as a failed authentication; returns the detail."""
    before = api.sample(REFUSED[0], **REFUSED[1])
    response = await api.client.get(path, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.sample(REFUSED[0], **REFUSED[1]) == before + 1
    detail: str = response.json()["detail"]
    return detail


async def test_a_token_signed_with_none_is_refused(api: AuthApi) -> None:
    await api.user("ann", Role.ADMIN)
    unsigned = jwt.encode(claims(), key=None, algorithm="none")
    assert unsigned.endswith(".")
    assert await refused(api, unsigned) == "the token is invalid"


async def test_a_token_signed_with_another_key_or_algorithm_is_refused(api: AuthApi, tmp_path: Path) -> None:
    await api.user("ann", Role.ADMIN)
    assert await refused(api, jwt.encode(claims(), "another key of at least thirty-two bytes!", "HS256"))
    # The right key, but an algorithm the server does not accept (it is configured with HS256).
    assert await refused(api, jwt.encode(claims(), signing_key(tmp_path), "HS512"))


async def test_a_correctly_signed_forgery_shows_the_key_itself_works(api: AuthApi, tmp_path: Path) -> None:
    """The control for the tests above: the same claims with the server's key and algorithm pass."""
    await api.user("ann", Role.ADMIN)
    response = await api.client.get("/api/v1/neurons", headers=bearer(jwt.encode(claims(), signing_key(tmp_path))))
    assert response.status_code == 200


async def test_a_tampered_token_is_refused(api: AuthApi) -> None:
    tokens = await api.user("vic", Role.VIEWER)
    header, payload, signature = tokens["access_token"].split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert await refused(api, f"{header}.{forged}.{signature}") == "the token is invalid"


async def test_an_expired_token_is_refused(api: AuthApi, tmp_path: Path) -> None:
    await api.user("ann", Role.ADMIN)
    old = int(time.time()) - 3600
    expired = jwt.encode(claims(iat=old, exp=old + 900), signing_key(tmp_path))
    assert await refused(api, expired) == "the token has expired"


async def test_a_token_without_issuer_or_audience_is_refused(api: AuthApi, tmp_path: Path) -> None:
    await api.user("ann", Role.ADMIN)
    key = signing_key(tmp_path)
    assert await refused(api, jwt.encode(claims(aud="someone-else"), key))
    no_issuer = claims()
    del no_issuer["iss"]
    assert await refused(api, jwt.encode(no_issuer, key))


async def test_a_refresh_token_is_not_an_access_token(api: AuthApi) -> None:
    tokens = await api.user("vic", Role.VIEWER)
    assert "refresh token was given where a access token" in await refused(api, tokens["refresh_token"])


async def test_an_access_token_is_not_a_refresh_token(api: AuthApi) -> None:
    tokens = await api.user("vic", Role.VIEWER)
    before = api.sample("hal9_service_operations_total", service="auth", operation="refresh", status="error")
    response = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert response.status_code == 401
    assert "where a refresh token is needed" in response.json()["detail"]
    assert (
        api.sample("hal9_service_operations_total", service="auth", operation="refresh", status="error") == before + 1
    )


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(api: AuthApi) -> None:
    first = await api.user("vic", Role.VIEWER)
    issued = api.sample("hal9_auth_tokens_issued_total", type="refresh")
    rotated = (await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert api.sample("hal9_auth_tokens_issued_total", type="refresh") == issued + 1
    assert api.sample("hal9_auth_tokens_issued_total", type="access") == issued + 1
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await api.client.get("/api/v1/neurons", headers=bearer(rotated["access_token"]))).status_code == 200

    # The spent token comes back (stolen?): refused, and the session it belongs to ends.
    reuse = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert "used before" in reuse.json()["detail"]
    after = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["detail"] == "the refresh token is revoked"

    # Another session of the same user is untouched.
    other = (
        await api.client.post(
            "/api/v1/auth/login", json={"username": "vic", "password": "correct horse battery staple"}
        )
    ).json()
    assert (await api.client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})).is_success


async def test_reuse_ends_the_sessions_access_tokens_from_the_next_request_on(api: AuthApi) -> None:
    """A reused refresh token revokes every token of its session, the access tokens it issued included."""
    first = await api.user("vic", Role.VIEWER)
    rotated = (await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    other = (
        await api.client.post("/api/v1/auth/login", json={"username": "vic", "password": PASSWORD})
    ).json()  # another session of the same user
    for tokens in (first, rotated, other):
        assert (await api.client.get("/api/v1/neurons", headers=bearer(tokens["access_token"]))).status_code == 200

    reuse = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401

    # Both access tokens of the session stop at once (not when they expire, 15 minutes later) ...
    assert await refused(api, first["access_token"]) == "the token is revoked or its user is disabled"
    assert (
        await refused(api, rotated["access_token"], "/api/v1/auth/me") == "the token is revoked or its user is disabled"
    )
    # ... and the other session goes on.
    assert (await api.client.get("/api/v1/neurons", headers=bearer(other["access_token"]))).status_code == 200
    assert (await api.client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})).is_success


async def test_a_revoked_session_stays_revoked_across_a_restart_and_is_forgotten_once_expired(
    tmp_path: Path,
) -> None:
    service = AuthService(
        tmp_path / "data" / "hal9.db",
        AuthConfig(
            **FAST_HASHING,
        ),
    )
    async with service:
        await service.create_user("vic", PASSWORD, Role.VIEWER)
        pair = await service.login("vic", PASSWORD)
        await service.refresh(pair.refresh_token)
        with pytest.raises(NotAuthenticated, match="used before"):
            await service.refresh(pair.refresh_token)
    async with service:  # a restart: the revocation is in the database, not in memory
        with pytest.raises(NotAuthenticated, match="revoked"):
            await service.authenticate(pair.access_token)
        await service.store._call(lambda c: c.execute("UPDATE auth_revoked_sessions SET expires_at = 0"))
    async with service:  # an expired revocation is purged at start: its access tokens have expired too
        rows = await service.store._call(lambda c: c.execute("SELECT COUNT(*) FROM auth_revoked_sessions").fetchone())
        assert rows == (0,)


async def test_logout_revokes_the_access_token_and_the_session(api: AuthApi) -> None:
    tokens = await api.user("vic", Role.VIEWER)
    headers = bearer(tokens["access_token"])
    assert (await api.client.get("/api/v1/auth/me", headers=headers)).json()["name"] == "vic"
    response = await api.client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 204
    assert await refused(api, tokens["access_token"]) == "the token is revoked or its user is disabled"
    again = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


async def test_disabling_a_user_stops_its_tokens_at_once(api: AuthApi) -> None:
    tokens = await api.user("vic", Role.VIEWER)
    response = await api.client.patch("/api/v1/auth/users/vic", headers=api.admin(), json={"active": False})
    assert response.json()["active"] is False
    await refused(api, tokens["access_token"])
    assert (
        await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    login = await api.client.post(
        "/api/v1/auth/login", json={"username": "vic", "password": "correct horse battery staple"}
    )
    assert login.status_code == 401


async def test_garbage_and_a_malformed_header_are_refused(api: AuthApi) -> None:
    assert await refused(api, "not-a-jwt") == "the token is invalid"
    response = await api.client.get("/api/v1/neurons", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert (await api.client.get("/api/v1/neurons")).status_code == 401


async def test_a_configured_signing_key_is_used_and_no_key_file_written(
    open_auth_api: OpenAuthApi, tmp_path: Path
) -> None:
    api = await open_auth_api(secret_key="k" * 40)
    await api.user("ann", Role.ADMIN)
    assert not (tmp_path / "data" / "auth-signing.key").exists()
    response = await api.client.get("/api/v1/neurons", headers=bearer(jwt.encode(claims(), "k" * 40)))
    assert response.status_code == 200


async def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "auth-signing.key"
    path.parent.mkdir()
    path.write_text("s" * 48)
    path.chmod(0o644)
    service = AuthService(tmp_path / "data" / "hal9.db", AuthConfig(**FAST_HASHING))
    with pytest.raises(AuthError, match="accessible to others than its owner; chmod 600 it"):
        async with service:
            pass
    path.chmod(0o600)
    async with service:
        assert await service.users() == []


def test_names_and_keys_with_a_trailing_newline_do_not_match_their_patterns() -> None:
    """Python's ``$`` also matches before a final newline: the whole text must match."""
    assert USERNAME.fullmatch("alice")
    assert not USERNAME.fullmatch("alice\n")
    assert KEY_NAME.fullmatch("ci key")
    assert not KEY_NAME.fullmatch("ci key\n")
    key = "hal9_0123456789ab_" + "A" * 43
    assert parse_api_key(key) == ("0123456789ab", "A" * 43)
    assert parse_api_key(key + "\n") is None
