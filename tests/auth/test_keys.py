"""API keys: both headers, shown once, stored hashed; revoked, expired and wrong keys are refused and counted."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from hal9.auth import Role
from tests.auth.helpers import AuthApi, bearer

pytestmark = pytest.mark.anyio


def failures(api: AuthApi) -> float:
    return api.sample("hal9_auth_attempts_total", type="api_key", status="failure")


async def refused(api: AuthApi, key: str, detail: str) -> None:
    before = failures(api)
    response = await api.client.get("/api/v1/neurons", headers={"X-API-Key": key})
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == detail
    assert failures(api) == before + 1


async def test_a_key_works_as_bearer_and_as_x_api_key_and_is_counted_by_its_public_id(api: AuthApi) -> None:
    key = await api.key(Role.VIEWER)
    key_id = key.split("_")[1]
    assert api.sample("hal9_auth_api_key_usage_total", key_id=key_id) == 0  # the series exists from creation
    assert (await api.client.get("/api/v1/neurons", headers=bearer(key))).status_code == 200
    assert (await api.client.get("/api/v1/neurons", headers={"X-API-Key": key})).status_code == 200
    assert api.sample("hal9_auth_api_key_usage_total", key_id=key_id) == 2
    me = (await api.client.get("/api/v1/auth/me", headers=bearer(key))).json()
    assert me == {
        "kind": "api_key",
        "id": key_id,
        "name": "test-viewer",
        "role": "viewer",
        "permissions": me["permissions"],
    }
    assert "signals:write" not in me["permissions"]


async def test_only_a_hash_of_the_secret_is_stored(api: AuthApi, tmp_path: Path) -> None:
    response = await api.client.post("/api/v1/auth/keys", headers=api.admin(), json={"name": "ci", "role": "operator"})
    assert response.status_code == 201
    created = response.json()
    token = created["key"]
    assert token.startswith(f"hal9_{created['id']}_")
    secret = token.split("_", 2)[2]
    with sqlite3.connect(tmp_path / "data" / "hal9.db") as db:
        dump = "\n".join(db.iterdump())
    assert created["id"] in dump
    assert secret not in dump
    listed = (await api.client.get("/api/v1/auth/keys", headers=api.admin())).json()
    assert {k["id"] for k in listed} >= {created["id"]}
    assert secret not in str(listed)


async def test_a_wrong_secret_with_a_right_id_is_refused(api: AuthApi) -> None:
    key = await api.key(Role.ADMIN)
    prefix, key_id, secret = key.split("_", 2)
    wrong = f"{prefix}_{key_id}_{'A' * len(secret)}"
    await refused(api, wrong, "the API key is invalid")
    await refused(api, "hal9_000000000000_" + secret, "the API key is invalid")
    await refused(api, "hal9_malformed", "the API key is invalid")


async def test_a_revoked_key_is_refused_and_its_usage_series_removed(api: AuthApi) -> None:
    key = await api.key(Role.OPERATOR)
    key_id = key.split("_")[1]
    active = api.sample("hal9_auth_api_keys_active")
    assert (await api.client.get("/api/v1/neurons", headers={"X-API-Key": key})).status_code == 200
    response = await api.client.delete(f"/api/v1/auth/keys/{key_id}", headers=api.admin())
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert api.sample("hal9_auth_api_keys_active") == active - 1
    assert api.runtime.metrics.sample("hal9_auth_api_key_usage_total", {"key_id": key_id}) is None
    await refused(api, key, "the API key is revoked")
    assert (await api.client.delete(f"/api/v1/auth/keys/{key_id}", headers=api.admin())).status_code == 200
    assert (await api.client.delete("/api/v1/auth/keys/ffffffffffff", headers=api.admin())).status_code == 404


async def test_an_expired_key_is_refused_and_no_longer_active(api: AuthApi, tmp_path: Path) -> None:
    active = api.sample("hal9_auth_api_keys_active")
    key = await api.key(Role.ADMIN, expires_in=3600)
    assert api.sample("hal9_auth_api_keys_active") == active + 1
    # An hour passes, as far as the key is concerned.
    with sqlite3.connect(tmp_path / "data" / "hal9.db") as db:
        db.execute("UPDATE auth_api_keys SET expires_at = ? WHERE id = ?", (time.time() - 1, key.split("_")[1]))
    await refused(api, key, "the API key has expired")
    assert api.sample("hal9_auth_api_keys_active") == active


async def test_key_creation_input_is_checked(api: AuthApi) -> None:
    bad_role = await api.client.post("/api/v1/auth/keys", headers=api.admin(), json={"name": "x", "role": "root"})
    assert bad_role.status_code == 422
    bad_name = await api.client.post("/api/v1/auth/keys", headers=api.admin(), json={"name": "<script>"})
    assert bad_name.status_code == 422
    assert "key name" in bad_name.json()["detail"]
