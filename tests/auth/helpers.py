"""An in-process API with auth on: a runtime with an AuthService, an httpx client on its app, principals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from hal9 import Config, Runtime
from hal9.auth import AuthService, Role
from tests.server.helpers import make_config

#: argon2id cheap enough for tests (a real server uses 64 MiB and 3 passes).
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024, "password_hash_parallelism": 1}
PASSWORD = "correct horse battery staple"


def auth_config(data_dir: Path, **auth: Any) -> Config:
    """``make_config`` with auth on, its data in ``data_dir`` and cheap password hashing."""
    return make_config(data_dir=str(data_dir), auth={"enabled": True, **FAST_HASHING, **auth})


@dataclass
class AuthApi:
    """A running runtime with auth, a client on its app, and an admin API key made directly."""

    runtime: Runtime
    app: FastAPI
    client: httpx.AsyncClient
    admin_key: str
    secrets: list[str] = field(default_factory=list)

    @property
    def auth(self) -> AuthService:
        service = self.runtime.services["auth"]
        assert isinstance(service, AuthService)
        return service

    def sample(self, name: str, **labels: str) -> float:
        """A sample of the runtime's registry; 0 for a series that does not exist."""
        return self.runtime.metrics.sample(name, labels) or 0.0

    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}

    async def user(self, username: str, role: Role) -> dict[str, str]:
        """Create a user and log in; returns the login's JSON (access and refresh tokens)."""
        await self.auth.create_user(username, PASSWORD, role)
        response = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        tokens: dict[str, str] = response.json()
        self.secrets += [tokens["access_token"], tokens["refresh_token"]]
        return tokens

    async def key(self, role: Role, expires_in: float | None = None) -> str:
        created = await self.auth.create_key(f"test-{role.value}", role, expires_in)
        self.secrets.append(created.token)
        return created.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
