"""Users, API keys, sessions and revocations of a cluster, in its JetStream key-value bucket ``auth``.

The same operations as :class:`~hal9.auth.store.AuthStore`, on keys every server reads through
on each request (no cache: a key created or revoked on one server is honoured or refused by every
other from its next request on; one request costs one round trip of up to three concurrent gets):

- ``user.<id>``: a user (name, role, active, password hash); ``name.<hex of the folded name>``:
  its id, made with ``create``, so two servers cannot give one name twice; ``counter.user``:
  the last id given (compare-and-set).
- ``key.<id>``: an API key (the hash of its secret); revoked and ``last_used_at`` by compare-and-set.
- ``refresh.<jti>``: a refresh token's session and user; ``spent.<jti>``: made with ``create``
  when the token is spent, so exactly one spend wins across servers and a second is a reuse.
- ``session.<family>``: a revoked session; ``revoked.<jti>``: a logged-out access token.
- ``signing-key``: the cluster's JWT key, made by the first server with ``create``;
  ``bootstrap``: the server that made the first admin key, made the same way.

Tokens and revocations carry a per-message TTL (they are kept as long as they can matter); the
bucket has a size limit. Users and keys are kept until deleted.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from hal9.auth.permissions import Role
from hal9.auth.store import LAST_USED_RESOLUTION_SECONDS, ApiKey, RefreshOutcome, User
from hal9.errors import AuthConflict, AuthNotRunning

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from hal9.cluster.state import ClusterState

T = TypeVar("T")

#: The cluster's key-value bucket of users, keys and tokens.
BUCKET = "auth"
#: The most the bucket may hold; when full, new tokens are refused rather than old state dropped.
BUCKET_BYTES = 256 * 1024 * 1024
#: Seconds one store operation may wait for the cluster before the request fails (503).
OPERATION_TIMEOUT = 5.0


def _name_key(username: str) -> str:
    # Key names allow fewer characters than usernames (no "@"): the folded name, hex-encoded.
    return "name." + username.casefold().encode().hex()


def _user(data: dict[str, Any]) -> User:
    return User(int(data["id"]), str(data["username"]), Role(data["role"]), bool(data["active"]), data["created_at"])


def _key(data: dict[str, Any]) -> ApiKey:
    return ApiKey(
        str(data["id"]),
        str(data["name"]),
        Role(data["role"]),
        float(data["created_at"]),
        data["expires_at"],
        data["last_used_at"],
        data["revoked_at"],
    )


def _ttl(until: float) -> float:
    """A per-message TTL in whole seconds (at least one) that lasts until ``until``."""
    return float(max(1, math.ceil(until - time.time())))


class SharedAuthStore:
    """The auth store of a cluster. Open with :meth:`open` (after the cluster state is entered).

    Args:
        state: the cluster's JetStream connection.
        path: the server's database file (only its folder is used: the data folder checked at start).
        refresh_seconds: a refresh token's lifetime: how long a revoked session is remembered.
    """

    def __init__(self, state: ClusterState, path: Path, refresh_seconds: float) -> None:
        self.state = state
        self.path = path
        self.refresh_seconds = refresh_seconds
        self._kv: KeyValue | None = None

    async def open(self) -> None:
        self._kv = await self.state.key_value(BUCKET, max_bytes=BUCKET_BYTES)

    async def close(self) -> None:
        self._kv = None

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise AuthNotRunning("the auth service is not running")
        return self._kv

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one operation against the cluster; unreachable, it fails as the auth service not running (503)."""
        import nats.errors

        try:
            with anyio.fail_after(OPERATION_TIMEOUT):
                return await work()
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise AuthNotRunning(f"the cluster's auth state cannot be reached: {type(exc).__name__}") from exc

    async def _get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        """The JSON value at ``key`` and its revision; (None, 0) when there is none."""
        import nats.js.errors

        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        return (json.loads(entry.value) if entry.value else None), int(entry.revision or 0)

    async def _exists(self, key: str) -> bool:
        return (await self._get(key))[0] is not None

    async def _create(self, key: str, value: object, ttl: float | None = None) -> bool:
        """Make ``key`` if it does not exist (the atomic "first one wins"); False if it did."""
        import nats.js.errors

        try:
            await self.kv.create(key, json.dumps(value).encode(), msg_ttl=ttl)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def _change(
        self, key: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Compare-and-set ``key``'s value through ``change`` (None from it: leave the value as it is)."""
        import nats.js.errors

        while True:
            value, revision = await self._get(key)
            if value is None:
                return None
            changed = change(dict(value))
            if changed is None:
                return value
            try:
                await self.kv.update(key, json.dumps(changed).encode(), last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another server changed it first: decide again on its value
            return changed

    async def _scan(self, prefix: str) -> list[Any]:
        """Every value under ``prefix.`` (for the administration lists)."""
        watcher = await self.kv.watch(f"{prefix}.>", ignore_deletes=True)
        values: list[Any] = []
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    values.append(json.loads(entry.value))
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
        return values

    # -- the signing key and the bootstrap -----------------------------------------------------

    async def signing_key(self) -> str:
        """The cluster's JWT signing key, generated by the first server that asks."""

        async def work() -> str:
            await self._create("signing-key", secrets.token_urlsafe(48))
            value, _ = await self._get_raw("signing-key")
            return value

        return await self._call(work)

    async def _get_raw(self, key: str) -> tuple[str, int]:
        entry = await self.kv.get(key)
        return str(json.loads(entry.value or b'""')), int(entry.revision or 0)

    async def claim_bootstrap(self) -> bool:
        """True for one server of the cluster only, and only if no user or key exists."""

        async def work() -> bool:
            if not await self._create("bootstrap", self.state.server_id):
                return False
            return not (await self._scan("name") or await self._scan("key"))

        return await self._call(work)

    # -- users ---------------------------------------------------------------------------------

    async def add_user(self, username: str, password_hash: str, role: Role) -> User:
        async def work() -> User:
            user_id = await self._next_user_id()
            record = {
                "id": user_id,
                "username": username,
                "role": role.value,
                "active": True,
                "created_at": time.time(),
                "password_hash": password_hash,
            }
            # The record first, then its name: a name always names a user that exists. A record whose
            # name was not made (taken, or its server died in between) is no one's: the lists skip it.
            await self.kv.put(f"user.{user_id}", json.dumps(record).encode())
            if not await self._create(_name_key(username), user_id):
                await self.kv.delete(f"user.{user_id}")
                raise AuthConflict(f"a user named {username!r} exists already")
            return _user(record)

        return await self._call(work)

    async def _next_user_id(self) -> int:
        import nats.js.errors

        while True:
            value, revision = await self._get_counter()
            try:
                if revision == 0:
                    await self.kv.create("counter.user", str(value + 1).encode())
                else:
                    await self.kv.update("counter.user", str(value + 1).encode(), last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return value + 1

    async def _get_counter(self) -> tuple[int, int]:
        import nats.js.errors

        try:
            entry = await self.kv.get("counter.user")
        except nats.js.errors.KeyNotFoundError:
            return 0, 0
        return int(entry.value or b"0"), int(entry.revision or 0)

    async def _user_record(self, user_id: int) -> dict[str, Any] | None:
        value, _ = await self._get(f"user.{user_id}")
        return value

    async def user_for_login(self, username: str) -> tuple[User, str] | None:
        async def work() -> tuple[User, str] | None:
            owner, _ = await self._get(_name_key(username))
            record = await self._user_record(int(owner)) if isinstance(owner, int) else None
            return None if record is None else (_user(record), str(record["password_hash"]))

        return await self._call(work)

    async def user(self, user_id: int) -> User | None:
        async def work() -> User | None:
            record = await self._user_record(user_id)
            return None if record is None else _user(record)

        return await self._call(work)

    async def users(self) -> list[User]:
        async def work() -> list[User]:
            named = set(await self._scan("name"))
            return sorted((_user(v) for v in await self._scan("user") if v["id"] in named), key=lambda u: u.id)

        return await self._call(work)

    async def set_user_active(self, username: str, active: bool) -> User | None:
        async def work() -> User | None:
            owner, _ = await self._get(_name_key(username))
            if not isinstance(owner, int):
                return None

            def change(record: dict[str, Any]) -> dict[str, Any]:
                return {**record, "active": active}

            record = await self._change(f"user.{owner}", change)
            return None if record is None else _user(record)

        return await self._call(work)

    async def user_for_access(self, user_id: int, jti: str, family: str | None) -> User | None:
        """The user of an access token if it is still good: three concurrent gets, one round trip."""
        found: dict[str, Any] = {}

        async def fetch(name: str, key: str) -> None:
            found[name] = (await self._get(key))[0]

        async def work() -> User | None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(fetch, "user", f"user.{user_id}")
                tg.start_soon(fetch, "revoked", f"revoked.{jti}")
                if family is not None:
                    tg.start_soon(fetch, "session", f"session.{family}")
            record = found["user"]
            if record is None or not record["active"] or found["revoked"] is not None or found.get("session"):
                return None
            return _user(record)

        return await self._call(work)

    # -- API keys ------------------------------------------------------------------------------

    async def add_key(self, key_id: str, name: str, role: Role, secret_hash: str, expires_at: float | None) -> ApiKey:
        record = {
            "id": key_id,
            "name": name,
            "role": role.value,
            "secret_hash": secret_hash,
            "created_at": time.time(),
            "expires_at": expires_at,
            "last_used_at": None,
            "revoked_at": None,
        }

        async def work() -> ApiKey:
            if not await self._create(f"key.{key_id}", record):
                raise AuthConflict(f"an API key with id {key_id!r} exists already")
            return _key(record)

        return await self._call(work)

    async def key_for_use(self, key_id: str) -> tuple[ApiKey, str] | None:
        async def work() -> tuple[ApiKey, str] | None:
            record, _ = await self._get(f"key.{key_id}")
            return None if record is None else (_key(record), str(record["secret_hash"]))

        return await self._call(work)

    async def note_key_used(self, key_id: str, now: float) -> None:
        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            last = record["last_used_at"]
            if last is not None and last >= now - LAST_USED_RESOLUTION_SECONDS:
                return None
            return {**record, "last_used_at": now}

        async def work() -> None:
            await self._change(f"key.{key_id}", change)

        await self._call(work)

    async def keys(self) -> list[ApiKey]:
        async def work() -> list[ApiKey]:
            return sorted((_key(v) for v in await self._scan("key")), key=lambda k: k.created_at)

        return await self._call(work)

    async def revoke_key(self, key_id: str) -> ApiKey | None:
        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            return None if record["revoked_at"] is not None else {**record, "revoked_at": time.time()}

        async def work() -> ApiKey | None:
            record = await self._change(f"key.{key_id}", change)
            return None if record is None else _key(record)

        return await self._call(work)

    # -- what a server kept before it joined ---------------------------------------------------

    async def import_user(self, user: User, password_hash: str) -> Literal["added", "present", "taken"]:
        """Add a user a server kept on its own (name, role, state, creation time) under a new id.

        ``present`` when the cluster's user of that name is this one, carried over before (the
        same creation time, which carrying keeps, or the same password hash); ``taken`` when it
        is another: the cluster's one is kept and nothing is written.
        """

        async def work() -> Literal["added", "present", "taken"]:
            owner, _ = await self._get(_name_key(user.username))
            if owner is None:
                user_id = await self._next_user_id()
                record = {
                    "id": user_id,
                    "username": user.username,
                    "role": user.role.value,
                    "active": user.active,
                    "created_at": user.created_at,
                    "password_hash": password_hash,
                }
                await self.kv.put(f"user.{user_id}", json.dumps(record).encode())
                if await self._create(_name_key(user.username), user_id):
                    return "added"
                await self.kv.delete(f"user.{user_id}")  # another server made the name meanwhile
                owner, _ = await self._get(_name_key(user.username))
            held = await self._user_record(int(owner)) if isinstance(owner, int) else None
            same = held is not None and (
                held["created_at"] == user.created_at or held["password_hash"] == password_hash
            )
            return "present" if same else "taken"

        return await self._call(work)

    async def import_key(self, key: ApiKey, secret_hash: str) -> bool:
        """Add an API key a server kept on its own, as it is (same id and secret); False if the cluster has it."""
        record = {
            "id": key.id,
            "name": key.name,
            "role": key.role.value,
            "secret_hash": secret_hash,
            "created_at": key.created_at,
            "expires_at": key.expires_at,
            "last_used_at": key.last_used_at,
            "revoked_at": key.revoked_at,
        }
        return await self._call(lambda: self._create(f"key.{key.id}", record))

    # -- tokens --------------------------------------------------------------------------------

    async def add_refresh(self, jti: str, family: str, user_id: int, expires_at: float) -> None:
        async def work() -> None:
            record = {"family": family, "user_id": user_id, "expires_at": expires_at}
            await self._create(f"refresh.{jti}", record, ttl=_ttl(expires_at))

        await self._call(work)

    async def spend_refresh(self, jti: str, family: str, session_until: float) -> RefreshOutcome:
        """Spend a refresh token: ``create`` of ``spent.<jti>`` lets exactly one server of the cluster win.

        A token spent before revokes its whole session ("reused").
        """

        async def work() -> RefreshOutcome:
            record, _ = await self._get(f"refresh.{jti}")
            if record is None or record["family"] != family:
                return "unknown"
            if await self._exists(f"session.{family}"):
                return "revoked"
            if await self._create(f"spent.{jti}", time.time(), ttl=_ttl(float(record["expires_at"]))):
                return "ok"
            await self._revoke_session(family, session_until)
            return "reused"

        return await self._call(work)

    async def _revoke_session(self, family: str, session_until: float) -> None:
        # Kept while any token of the session can still be presented: its refresh tokens (issued
        # up to now, each living refresh_seconds) and the access tokens they gave.
        until = max(session_until, time.time() + self.refresh_seconds)
        await self._create(f"session.{family}", time.time(), ttl=_ttl(until))

    async def revoke_family(self, family: str, session_until: float) -> None:
        await self._call(lambda: self._revoke_session(family, session_until))

    async def revoke_access(self, jti: str, expires_at: float) -> None:
        async def work() -> None:
            await self._create(f"revoked.{jti}", time.time(), ttl=_ttl(expires_at))

        await self._call(work)
