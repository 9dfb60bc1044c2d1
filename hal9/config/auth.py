"""The ``[auth]`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from hal9.config.section import Section


class AuthConfig(Section):
    """Authentication of the HTTP API (``hal9.auth``): users, JWT, API keys. On by default.

    ``enabled = false`` is accepted only by a server bound to a loopback address.
    """

    enabled: bool = True
    secret_key: SecretStr | None = Field(
        default=None, min_length=32, description="JWT signing key; default: generated once into secret_key_file"
    )
    secret_key_file: Path | None = Field(default=None, description="default: data_dir/auth-signing.key (mode 0600)")
    algorithm: Literal["HS256", "HS384", "HS512"] = Field(default="HS256", description="the only one accepted")
    issuer: str = Field(default="hal9", min_length=1)
    audience: str = Field(default="hal9-api", min_length=1)
    access_token_seconds: int = Field(default=15 * 60, gt=0, le=86400)
    refresh_token_seconds: int = Field(default=7 * 86400, gt=0)
    metrics_token: SecretStr | None = Field(
        default=None, min_length=16, description="when set, GET /metrics needs 'Authorization: Bearer <token>'"
    )
    login_max_failures_per_user: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    login_window_seconds: float = Field(default=300.0, gt=0, description="failures older than this are forgotten")
    login_tracked_max: int = Field(default=10_000, gt=0, description="usernames and addresses the limiter remembers")
    password_min_length: int = Field(default=12, ge=8, le=1024)
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id iterations")
    password_hash_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory per hash")
    password_hash_parallelism: int = Field(default=4, ge=1)
    bootstrap_admin_key: bool = Field(default=True, description="first start with no users or keys: print an admin key")
