"""No password, token, key or signing key appears in the logs, in /metrics or in an error body."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hal9.auth import Role
from tests.auth.helpers import PASSWORD, AuthApi, bearer

pytestmark = pytest.mark.anyio


async def test_no_secret_in_logs_metrics_or_error_bodies(api: AuthApi, tmp_path: Path) -> None:
    bodies: list[str] = []
    with capture_logs() as logs:
        tokens = await api.user("olga", Role.ADMIN)
        key = await api.key(Role.VIEWER)
        key_id, secret = key.split("_")[1], key.split("_", 2)[2]
        created = await api.client.post(
            "/api/v1/auth/keys", headers=bearer(tokens["access_token"]), json={"name": "ci", "role": "operator"}
        )
        api.secrets.append(created.json()["key"])
        attacks = [
            api.client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD + "x"}),
            api.client.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD}),
            api.client.get("/api/v1/neurons", headers={"X-API-Key": f"hal9_{key_id}_{secret[::-1]}"}),
            api.client.get("/api/v1/neurons", headers=bearer(tokens["access_token"] + "x")),
            api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}),
            api.client.post("/api/v1/signals", headers={"X-API-Key": key}, json={"content": "hi"}),
            api.client.post("/api/v1/auth/users", headers=api.admin(), json={"username": "olga", "password": PASSWORD}),
            # Invalid bodies: FastAPI would echo the rejected value in its 422 answer.
            api.client.post("/api/v1/auth/login", json={"username": "o" * 65, "password": PASSWORD}),
            api.client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD * 50}),
            api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"], "x": 1}),
            api.client.post("/api/v1/auth/logout", headers=api.admin(), json={"refresh_token": 7, "x": key}),
        ]
        for attack in attacks:
            response = await attack
            assert response.status_code >= 400
            bodies.append(response.text)
        await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        reused = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        bodies.append(reused.text)
        metrics = (await api.client.get("/metrics")).text

    signing_key = (tmp_path / "data" / "auth-signing.key").read_text().strip()
    secrets = [PASSWORD, secret, signing_key, *api.secrets]
    logged = repr(logs)
    assert any(entry["event"] == "auth.login_failed" for entry in logs)  # the logs did capture the work
    assert f'key_id="{key_id}"' in metrics  # the public id is exposed, by design
    for value in secrets:
        assert value not in logged
        assert value not in metrics
        assert all(value not in body for body in bodies), value[:8]
