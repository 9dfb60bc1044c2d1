"""Users, API keys and refresh tokens in the runtime's SQLite database (``data_dir/hal9.db``).

Used through :class:`~hal9.support.database.Database`: sqlite3 in a worker thread, one call
at a time, so the event loop never waits on the disk and each call is atomic with respect
to the others (a refresh token is checked and spent in one call). The tables carry
their own schema version, beside the memory service's and the LLM ledger's tables.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from hal9.auth.permissions import Role
from hal9.errors import AuthConflict, AuthError, AuthNotRunning
from hal9.support.database import Database

T = TypeVar("T")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auth_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
    jti TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_family ON auth_refresh_tokens (family);
CREATE TABLE IF NOT EXISTS auth_revoked_access (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_revoked_sessions (family TEXT PRIMARY KEY, expires_at REAL NOT NULL);
"""
#: A session (a refresh token family) ended by reuse, logout or a disabled user: kept until the
#: last access token it can have issued has expired, and read with every access token's check.
_REVOKE_SESSION = (
    "INSERT INTO auth_revoked_sessions (family, expires_at) VALUES (?, ?) "
    "ON CONFLICT (family) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)"
)
#: ``last_used_at`` of a key is written at most this often (a busy key would otherwise write on every request).
LAST_USED_RESOLUTION_SECONDS = 60.0

RefreshOutcome = Literal["ok", "unknown", "reused", "revoked"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    active: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _user(row: tuple[int, str, str, int, float]) -> User:
    return User(row[0], row[1], Role(row[2]), bool(row[3]), row[4])


def _key(row: tuple[str, str, str, float, float | None, float | None, float | None]) -> ApiKey:
    return ApiKey(row[0], row[1], Role(row[2]), row[3], row[4], row[5], row[6])


class AuthStore:
    """The auth tables. Open with :meth:`open`, close with :meth:`close`.

    Args:
        path: the SQLite file; its folder is created if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(path, not_open=lambda: AuthNotRunning("the auth service is not running"))

    async def open(self) -> None:
        await self._db.open(self._create)

    def _create(self, connection: sqlite3.Connection) -> None:
        # Idempotent (IF NOT EXISTS); executescript commits first, so it runs before the transaction.
        connection.executescript(_SCHEMA)
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT value FROM auth_meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO auth_meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise AuthError(
                    f"{self.path}: auth schema version {row[0]} is newer than this HAL9 knows ({SCHEMA_VERSION})"
                )
            now = time.time()
            connection.execute("DELETE FROM auth_refresh_tokens WHERE expires_at < ?", (now,))
            connection.execute("DELETE FROM auth_revoked_access WHERE expires_at < ?", (now,))
            connection.execute("DELETE FROM auth_revoked_sessions WHERE expires_at < ?", (now,))

    async def close(self) -> None:
        await self._db.close()

    # -- users ---------------------------------------------------------------------------

    async def add_user(self, username: str, password_hash: str, role: Role) -> User:
        def add(c: sqlite3.Connection) -> User:
            try:
                cursor = c.execute(
                    "INSERT INTO auth_users (username, password_hash, role, active, created_at) VALUES (?, ?, ?, 1, ?)",
                    (username, password_hash, role.value, time.time()),
                )
            except sqlite3.IntegrityError:
                raise AuthConflict(f"a user named {username!r} exists already") from None
            row = c.execute(
                "SELECT id, username, role, active, created_at FROM auth_users WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            return _user(row)

        return await self._call(add)

    async def user_for_login(self, username: str) -> tuple[User, str] | None:
        """The user and its password hash, by name (case-insensitive)."""

        def find(c: sqlite3.Connection) -> tuple[User, str] | None:
            row = c.execute(
                "SELECT id, username, role, active, created_at, password_hash FROM auth_users WHERE username = ?",
                (username,),
            ).fetchone()
            return None if row is None else (_user(row[:5]), row[5])

        return await self._call(find)

    async def user(self, user_id: int) -> User | None:
        def find(c: sqlite3.Connection) -> User | None:
            row = c.execute(
                "SELECT id, username, role, active, created_at FROM auth_users WHERE id = ?", (user_id,)
            ).fetchone()
            return None if row is None else _user(row)

        return await self._call(find)

    async def users(self) -> list[User]:
        return await self._call(
            lambda c: [
                _user(r) for r in c.execute("SELECT id, username, role, active, created_at FROM auth_users ORDER BY id")
            ]
        )

    async def set_user_active(self, username: str, active: bool) -> User | None:
        def update(c: sqlite3.Connection) -> User | None:
            c.execute("UPDATE auth_users SET active = ? WHERE username = ?", (int(active), username))
            row = c.execute(
                "SELECT id, username, role, active, created_at FROM auth_users WHERE username = ?", (username,)
            ).fetchone()
            return None if row is None else _user(row)

        return await self._call(update)

    async def user_for_access(self, user_id: int, jti: str, family: str | None) -> User | None:
        """The user of an access token if it is still good: the user is active, the token not logged
        out and its session (``family``) not revoked. One query, two primary-key probes."""

        def check(c: sqlite3.Connection) -> User | None:
            row = c.execute(
                "SELECT id, username, role, active, created_at FROM auth_users WHERE id = ? AND active = 1 "
                "AND NOT EXISTS (SELECT 1 FROM auth_revoked_access WHERE jti = ?) "
                "AND NOT EXISTS (SELECT 1 FROM auth_revoked_sessions WHERE family = ?)",
                (user_id, jti, family),
            ).fetchone()
            return None if row is None else _user(row)

        return await self._call(check)

    async def claim_bootstrap(self) -> bool:
        """True on a first start: no user and no API key was ever made."""
        return not any(await self.counts())

    async def counts(self) -> tuple[int, int]:
        """(users, API keys ever made): zero of both means a first start."""

        def count(c: sqlite3.Connection) -> tuple[int, int]:
            users = c.execute("SELECT COUNT(*) FROM auth_users").fetchone()[0]
            keys = c.execute("SELECT COUNT(*) FROM auth_api_keys").fetchone()[0]
            return int(users), int(keys)

        return await self._call(count)

    # -- API keys --------------------------------------------------------------------------

    async def add_key(self, key_id: str, name: str, role: Role, secret_hash: str, expires_at: float | None) -> ApiKey:
        def add(c: sqlite3.Connection) -> ApiKey:
            c.execute(
                "INSERT INTO auth_api_keys (id, name, role, secret_hash, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, role.value, secret_hash, time.time(), expires_at),
            )
            return _key(
                c.execute(
                    "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at "
                    "FROM auth_api_keys WHERE id = ?",
                    (key_id,),
                ).fetchone()
            )

        return await self._call(add)

    async def key_for_use(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its secret hash, by public id."""

        def find(c: sqlite3.Connection) -> tuple[ApiKey, str] | None:
            row = c.execute(
                "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at, secret_hash "
                "FROM auth_api_keys WHERE id = ?",
                (key_id,),
            ).fetchone()
            return None if row is None else (_key(row[:7]), row[7])

        return await self._call(find)

    async def note_key_used(self, key_id: str, now: float) -> None:
        await self._call(
            lambda c: c.execute(
                "UPDATE auth_api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, key_id, now - LAST_USED_RESOLUTION_SECONDS),
            )
        )

    async def keys(self) -> list[ApiKey]:
        return await self._call(
            lambda c: [
                _key(r)
                for r in c.execute(
                    "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at "
                    "FROM auth_api_keys ORDER BY created_at"
                )
            ]
        )

    async def revoke_key(self, key_id: str) -> ApiKey | None:
        def revoke(c: sqlite3.Connection) -> ApiKey | None:
            c.execute(
                "UPDATE auth_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
            )
            row = c.execute(
                "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at "
                "FROM auth_api_keys WHERE id = ?",
                (key_id,),
            ).fetchone()
            return None if row is None else _key(row)

        return await self._call(revoke)

    # -- tokens ----------------------------------------------------------------------------

    async def add_refresh(self, jti: str, family: str, user_id: int, expires_at: float) -> None:
        await self._call(
            lambda c: c.execute(
                "INSERT INTO auth_refresh_tokens (jti, family, user_id, expires_at) VALUES (?, ?, ?, ?)",
                (jti, family, user_id, expires_at),
            )
        )

    async def spend_refresh(self, jti: str, family: str, session_until: float) -> RefreshOutcome:
        """Mark a refresh token used. A token used before revokes its whole session ("reused").

        The session's refresh tokens are revoked and the session itself is recorded as revoked
        until ``session_until`` (when the last access token it issued expires), in the same
        transaction, so its access tokens are refused from the next request on.
        """

        def spend(c: sqlite3.Connection) -> RefreshOutcome:
            now = time.time()
            with c:
                c.execute("BEGIN IMMEDIATE")
                row = c.execute(
                    "SELECT used_at, revoked_at FROM auth_refresh_tokens WHERE jti = ? AND family = ?", (jti, family)
                ).fetchone()
                if row is None:
                    return "unknown"
                used_at, revoked_at = row
                if used_at is not None:
                    c.execute(
                        "UPDATE auth_refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                        (now, family),
                    )
                    c.execute(_REVOKE_SESSION, (family, session_until))
                    return "reused"
                if revoked_at is not None:
                    return "revoked"
                c.execute("UPDATE auth_refresh_tokens SET used_at = ? WHERE jti = ?", (now, jti))
                return "ok"

        return await self._call(spend)

    async def revoke_family(self, family: str, session_until: float) -> None:
        """End a session: its refresh tokens, and its access tokens until ``session_until``."""

        def revoke(c: sqlite3.Connection) -> None:
            with c:
                c.execute("BEGIN IMMEDIATE")
                c.execute(
                    "UPDATE auth_refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                    (time.time(), family),
                )
                c.execute(_REVOKE_SESSION, (family, session_until))

        await self._call(revoke)

    async def revoke_access(self, jti: str, expires_at: float) -> None:
        await self._call(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO auth_revoked_access (jti, expires_at) VALUES (?, ?)", (jti, expires_at)
            )
        )

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.call(work)
