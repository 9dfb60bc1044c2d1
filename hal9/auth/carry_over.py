"""A server that joins a cluster brings the users and API keys it kept on its own into the cluster's store.

Before it joined, a server kept its users and keys in the ``auth_*`` tables of its ``hal9.db``;
in a cluster every server reads the cluster's bucket instead (:mod:`hal9.auth.shared_store`).
At each start in a cluster, a server adds its own users and its keys that can still be used to
the cluster's store, so the keys its clients hold and the passwords its users know keep working
on every server of the cluster:

- an API key keeps its id and secret; one the cluster has already (carried over at an earlier
  start, perhaps revoked there since) is left as the cluster has it;
- a user gets a new id from the cluster (ids are the cluster's); a user whose name the cluster
  has already is left out, and the cluster's user of that name is kept;
- sessions and tokens are not carried: the cluster signs with its own key, so users log in again.

The cluster keeps its keys and users (revoked or disabled ones too), so a later start adds
nothing twice and never brings back a key revoked or a user disabled in the cluster; what a
server made on its own while it was out of the cluster comes in when it joins again. Nothing is
written to the server's own tables. Each start costs a round trip or two per user and key.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from hal9.auth.permissions import Role
from hal9.auth.shared_store import SharedAuthStore
from hal9.auth.store import ApiKey, User

_USERS = "SELECT id, username, role, active, created_at, password_hash FROM auth_users ORDER BY id"
_KEYS = (
    "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at, secret_hash FROM auth_api_keys"
    " WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at"
)


@dataclass(frozen=True, slots=True)
class OwnAuth:
    """What a server's own tables hold: its users and its usable keys, each with its hash."""

    users: list[tuple[User, str]]
    keys: list[tuple[ApiKey, str]]


@dataclass(frozen=True, slots=True)
class CarriedOver:
    """What one carry-over added to the cluster, and the users it left out (the cluster has another of that name)."""

    users: int
    keys: int
    users_left_out: int


def read_own(path: Path, now: float) -> OwnAuth:
    """The users and the unrevoked, unexpired keys in the server's database (none when it has no auth tables)."""
    if not path.exists():
        return OwnAuth([], [])
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("PRAGMA query_only = ON")
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        users = (
            [
                (User(int(r[0]), str(r[1]), Role(r[2]), bool(r[3]), float(r[4])), str(r[5]))
                for r in connection.execute(_USERS)
            ]
            if "auth_users" in tables
            else []
        )
        keys = (
            [
                (ApiKey(str(r[0]), str(r[1]), Role(r[2]), float(r[3]), r[4], r[5], r[6]), str(r[7]))
                for r in connection.execute(_KEYS, (now,))
            ]
            if "auth_api_keys" in tables
            else []
        )
    return OwnAuth(users, keys)


async def carry_over(store: SharedAuthStore, path: Path) -> CarriedOver:
    """Add the users and keys of the server's database at ``path`` that the cluster's ``store`` lacks.

    Raises:
        AuthNotRunning: the cluster's store cannot be reached (what was added stays; the next start adds the rest).
    """
    own = await anyio.to_thread.run_sync(read_own, path, time.time())
    keys = [await store.import_key(key, secret_hash) for key, secret_hash in own.keys]
    users = [await store.import_user(user, password_hash) for user, password_hash in own.users]
    return CarriedOver(users.count("added"), keys.count(True), users.count("taken"))
