"""What :class:`~hal9.auth.service.AuthService` keeps its users, keys and tokens in: one interface, two stores.

:class:`~hal9.auth.store.AuthStore` keeps them in the server's SQLite database;
:class:`~hal9.auth.shared_store.SharedAuthStore` in the cluster's JetStream bucket, so that every
server of a cluster sees the same users, keys, sessions and revocations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hal9.auth.permissions import Role
from hal9.auth.store import ApiKey, RefreshOutcome, User


class AuthStorage(Protocol):
    """The operations of an auth store; each is atomic with respect to the others."""

    #: The SQLite file of the server's database (its folder is the data folder checked at start).
    path: Path

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def add_user(self, username: str, password_hash: str, role: Role) -> User: ...

    async def user_for_login(self, username: str) -> tuple[User, str] | None: ...

    async def user(self, user_id: int) -> User | None: ...

    async def users(self) -> list[User]: ...

    async def set_user_active(self, username: str, active: bool) -> User | None: ...

    async def user_for_access(self, user_id: int, jti: str, family: str | None) -> User | None: ...

    async def claim_bootstrap(self) -> bool:
        """Whether this server is the one to make the first admin key: nothing exists, and no other claimed it."""
        ...

    async def add_key(
        self, key_id: str, name: str, role: Role, secret_hash: str, expires_at: float | None
    ) -> ApiKey: ...

    async def key_for_use(self, key_id: str) -> tuple[ApiKey, str] | None: ...

    async def note_key_used(self, key_id: str, now: float) -> None: ...

    async def keys(self) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str) -> ApiKey | None: ...

    async def add_refresh(self, jti: str, family: str, user_id: int, expires_at: float) -> None: ...

    async def spend_refresh(self, jti: str, family: str, session_until: float) -> RefreshOutcome: ...

    async def revoke_family(self, family: str, session_until: float) -> None: ...

    async def revoke_access(self, jti: str, expires_at: float) -> None: ...
