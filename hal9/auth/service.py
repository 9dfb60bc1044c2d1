"""``AuthService``: logins, JWT rotation, API keys and users, measured like every service.

Its operations are measured by the :class:`~hal9.runtime.service.Service` base
(``hal9_service_operations_total{service="auth",operation,status}``), so every refused
token is counted there; the contract's five ``hal9_auth_*`` families are fed here.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

import anyio.to_thread
import structlog

from hal9.auth import keys as api_keys
from hal9.auth.limiter import FailureWindow
from hal9.auth.metrics import AuthState
from hal9.auth.passwords import Passwords
from hal9.auth.permissions import Role
from hal9.auth.principal import Principal
from hal9.auth.storage import AuthStorage
from hal9.auth.store import ApiKey, AuthStore, User
from hal9.auth.tokens import TokenCodec, load_signing_key
from hal9.config import AuthConfig
from hal9.errors import (
    AuthNotFound,
    AuthNotRunning,
    ConfigError,
    InvalidAuthInput,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
)
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.service import Service
from hal9.support.private_files import check_data_dir

if TYPE_CHECKING:
    from hal9.cluster.state import ClusterState
    from hal9.config import Config
    from hal9.runtime.runtime import Runtime

log = structlog.get_logger("hal9.auth")

DATABASE_FILE = "hal9.db"
KEY_FILE = "auth-signing.key"
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$")
MAX_PASSWORD_CHARS = 1024
#: The value of the client-address limiter's key when the server does not know the address.
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh answers."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new API key: ``token`` is the only copy of the secret, shown once."""

    key: ApiKey
    token: str


class AuthService(Service):
    """Users, tokens and API keys in the runtime's SQLite database, or in the cluster's.

    In a cluster (a :class:`~hal9.cluster.state.ClusterState` in the runtime, or ``cluster`` given)
    they are kept in the cluster's JetStream bucket (:class:`~hal9.auth.shared_store.SharedAuthStore`)
    and signed with the cluster's key, so every server honours the same users, keys and sessions.

    Args:
        path: the SQLite file (``data_dir/hal9.db``).
        settings: the ``[auth]`` section.
        key_file: where a generated signing key is kept when ``settings.secret_key`` is unset (not in a cluster).
        cluster: the cluster's state, to keep everything there (a runtime's is found on its own).
    """

    name = "auth"

    def __init__(
        self,
        path: Path,
        settings: AuthConfig | None = None,
        key_file: Path | None = None,
        cluster: ClusterState | None = None,
    ) -> None:
        self.settings = settings if settings is not None else AuthConfig()
        self.store: AuthStorage = AuthStore(path)
        if cluster is not None:
            self.use_cluster(cluster)
        self.key_file = key_file or self.settings.secret_key_file or path.parent / KEY_FILE
        self.state = AuthState()
        s = self.settings
        self._by_user = FailureWindow(s.login_max_failures_per_user, s.login_window_seconds, s.login_tracked_max)
        self._by_address = FailureWindow(s.login_max_failures_per_address, s.login_window_seconds, s.login_tracked_max)
        self._codec: TokenCodec | None = None
        self._passwords: Passwords | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The auth service of ``config``'s data folder.

        Raises:
            ConfigError: the configuration has no ``data_dir`` (users and keys must outlive the process).
        """
        if config.data_dir is None:
            raise ConfigError("auth keeps its users and API keys in data_dir: set data_dir")
        return cls(config.data_dir / DATABASE_FILE, config.auth)

    def use_cluster(self, cluster: ClusterState) -> None:
        """Keep users, keys and tokens in the cluster's bucket (before the service is entered)."""
        from hal9.auth.shared_store import SharedAuthStore

        self.store = SharedAuthStore(cluster, self.store.path, self.settings.refresh_token_seconds)

    @property
    def shared(self) -> bool:
        """Whether users, keys and tokens are the cluster's."""
        return not isinstance(self.store, AuthStore)

    def on_attached(self, runtime: Runtime) -> None:
        if runtime.config.network.shared:
            from hal9.cluster.state import ClusterState

            cluster = runtime.services.get(ClusterState)
            if cluster is not None:
                self.use_cluster(cluster)

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._attempts = metrics.counter(fam.AUTH_ATTEMPTS.name, fam.AUTH_ATTEMPTS.help, fam.AUTH_ATTEMPTS.labels)
        self._issued = metrics.counter(
            fam.AUTH_TOKENS_ISSUED.name, fam.AUTH_TOKENS_ISSUED.help, fam.AUTH_TOKENS_ISSUED.labels
        )
        self._usage = metrics.counter(
            fam.AUTH_API_KEY_USAGE.name, fam.AUTH_API_KEY_USAGE.help, fam.AUTH_API_KEY_USAGE.labels
        )
        metrics.register(self.state)
        # Every series of the fixed label sets exists at zero from the start.
        for kind in ("login", "api_key"):
            for status in ("success", "failure"):
                self._attempts.labels(kind, status)
        for kind in ("access", "refresh"):
            self._issued.labels(kind)
        for operation in ("login", "refresh", "logout", "authenticate"):
            self.measure(operation=operation)

    # -- lifecycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Check the data folder, load (or create) the signing key, open the store, load the active keys.

        Raises:
            ConfigError: the folder of the database is not private (:func:`~hal9.support.private_files.check_data_dir`),
                checked before a key is read from it or written into it.
        """
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        if not self.shared:  # the cluster's store keeps nothing in the data folder
            await anyio.to_thread.run_sync(check_data_dir, self.store.path.parent)
        s = self.settings
        configured = s.secret_key.get_secret_value() if s.secret_key is not None else None
        # In a cluster, the configured key or the cluster's (the first server makes it); else the key file's.
        signing_key = configured
        if signing_key is None and not self.shared:
            signing_key = await anyio.to_thread.run_sync(load_signing_key, configured, self.key_file)
        await self.store.open()
        try:
            if self.shared:
                await self._carry_over()
            if signing_key is None:
                signing_key = await self._cluster_signing_key()
            await self._start(signing_key)
            for key in await self.store.keys():
                if key.revoked_at is None:
                    self._track_key(key)
            yield self
        finally:
            await self.store.close()

    async def _carry_over(self) -> None:
        """Bring the users and keys this server kept on its own into the cluster (those it lacks)."""
        from hal9.auth.carry_over import carry_over
        from hal9.auth.shared_store import SharedAuthStore

        assert isinstance(self.store, SharedAuthStore)
        carried = await carry_over(self.store, self.store.path)
        if not (carried.users or carried.keys or carried.users_left_out):
            return
        log.info("auth.carried_over", users=carried.users, keys=carried.keys)
        if carried.users_left_out:
            log.warning(
                "auth.users_left_out",
                users=carried.users_left_out,
                reason="the cluster has other users of these names; theirs are kept",
            )

    async def _cluster_signing_key(self) -> str:
        from hal9.auth.shared_store import SharedAuthStore

        assert isinstance(self.store, SharedAuthStore)
        return await self.store.signing_key()

    async def _start(self, signing_key: str) -> None:
        s = self.settings
        self._codec = TokenCodec(
            signing_key,
            s.algorithm,
            s.issuer,
            s.audience,
            {"access": s.access_token_seconds, "refresh": s.refresh_token_seconds},
        )
        passwords = Passwords(s.password_hash_time_cost, s.password_hash_memory_kib, s.password_hash_parallelism)
        await passwords.prepare()
        self._passwords = passwords

    async def bootstrap(self) -> CreatedKey | None:
        """On a first start (no users, no keys ever) make an admin API key, if the config allows.

        In a cluster only one server makes it, whichever claims it first.
        """
        if not self.settings.bootstrap_admin_key or not await self.store.claim_bootstrap():
            return None
        created = await self.create_key("bootstrap-admin", Role.ADMIN)
        log.warning("auth.bootstrap_key_created", key_id=created.key.id, role="admin")
        return created

    # -- logins and tokens ----------------------------------------------------------------

    async def login(self, username: str, password: str, address: str | None = None) -> TokenPair:
        """Check a password and issue an access and a refresh token.

        Raises:
            TooManyAttempts: this user or address failed too often lately (nothing was checked).
            InvalidCredentials: unknown user, disabled user or wrong password, alike in answer and time.
        """
        async with self.measure(operation="login"):
            user_key, address_key = username.casefold()[:MAX_PASSWORD_CHARS], address or UNKNOWN_ADDRESS
            wait = max(self._by_user.retry_after(user_key), self._by_address.retry_after(address_key))
            if wait:
                self._attempts.labels("login", "failure").inc()
                log.warning("auth.login_limited", retry_after=wait)
                raise TooManyAttempts(wait)
            found = await self.store.user_for_login(username) if USERNAME.fullmatch(username) else None
            good = await self._require_passwords().verify(found[1] if found else None, password)
            if found is None or not good or not found[0].active:
                self._by_user.fail(user_key)
                self._by_address.fail(address_key)
                self._attempts.labels("login", "failure").inc()
                log.info("auth.login_failed")
                raise InvalidCredentials
            user = found[0]
            self._by_user.clear(user_key)
            self._attempts.labels("login", "success").inc()
            self.state.saw(f"user:{user.id}")
            log.info("auth.login", user_id=user.id)
            return await self._issue_pair(user, uuid.uuid4().hex)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair. A token spent before revokes its whole session:
        its refresh tokens and the access tokens it issued (they carry its id), from the next request on.

        Raises:
            NotAuthenticated: invalid, expired, an access token, spent, revoked, or its user is disabled.
        """
        async with self.measure(operation="refresh"):
            claims = self._require_codec().decode(refresh_token, "refresh")
            assert claims.family is not None
            outcome = await self.store.spend_refresh(claims.jti, claims.family, self._session_until())
            if outcome == "reused":
                log.warning("auth.refresh_reused", user_id=claims.user_id)
                raise NotAuthenticated("the refresh token was used before; its session is revoked, log in again")
            if outcome != "ok":
                raise NotAuthenticated("the refresh token is revoked")
            user = await self.store.user(claims.user_id)
            if user is None or not user.active:
                await self.store.revoke_family(claims.family, self._session_until())
                raise NotAuthenticated("the user is disabled")
            self.state.saw(f"user:{user.id}")
            return await self._issue_pair(user, claims.family)

    async def logout(self, principal: Principal, refresh_token: str | None = None) -> None:
        """Revoke the access token the principal came with, and the session of ``refresh_token``."""
        async with self.measure(operation="logout"):
            if principal.token_id is not None and principal.token_expires_at is not None:
                await self.store.revoke_access(principal.token_id, principal.token_expires_at)
            if refresh_token is not None:
                claims = self._require_codec().decode(refresh_token, "refresh")
                if str(claims.user_id) != principal.id or principal.kind != "user":
                    raise NotAuthenticated("the refresh token belongs to another session")
                assert claims.family is not None
                await self.store.revoke_family(claims.family, self._session_until())

    async def _issue_pair(self, user: User, family: str) -> TokenPair:
        codec = self._require_codec()
        # The access token names its session too, so revoking the session ends it (authenticate()).
        access, _ = codec.issue("access", user.id, user.role, family=family)
        refresh, claims = codec.issue("refresh", user.id, user.role, family=family)
        await self.store.add_refresh(claims.jti, family, user.id, claims.expires_at)
        self._issued.labels("access").inc()
        self._issued.labels("refresh").inc()
        return TokenPair(access, refresh, codec.lifetimes["access"], codec.lifetimes["refresh"])

    # -- each request ---------------------------------------------------------------------

    async def authenticate(self, bearer: str | None, api_key: str | None = None) -> Principal:
        """The principal of a request's ``Authorization: Bearer`` token or ``X-API-Key``.

        Raises:
            NotAuthenticated: no credentials, or invalid, expired or revoked ones.
        """
        async with self.measure(operation="authenticate"):
            if api_key is not None:
                return await self._by_key(api_key)
            if not bearer:
                raise NotAuthenticated("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")
            if api_keys.looks_like_key(bearer):
                return await self._by_key(bearer)
            claims = self._require_codec().decode(bearer, "access")
            # Tokens issued before access tokens named their session have no family: only their jti is checked.
            user = await self.store.user_for_access(claims.user_id, claims.jti, claims.family)
            if user is None:
                raise NotAuthenticated("the token is revoked or its user is disabled")
            self.state.saw(f"user:{user.id}")
            return Principal("user", str(user.id), user.username, user.role, claims.jti, float(claims.expires_at))

    async def _by_key(self, token: str) -> Principal:
        parsed = api_keys.parse(token)
        found = await self.store.key_for_use(parsed[0]) if parsed is not None else None
        # The secret is checked before anything about the key is revealed (revoked, expired).
        if parsed is None or found is None or not api_keys.secret_matches(parsed[1], found[1]):
            self._attempts.labels("api_key", "failure").inc()
            raise NotAuthenticated("the API key is invalid")
        key = found[0]
        now = time.time()
        if not key.active(now):
            self._attempts.labels("api_key", "failure").inc()
            if key.revoked_at is not None:
                self._untrack_key(key.id)
                raise NotAuthenticated("the API key is revoked")
            self.state.keys[key.id] = key.expires_at  # the stored expiry (it may have been changed elsewhere)
            raise NotAuthenticated("the API key has expired")
        self._attempts.labels("api_key", "success").inc()
        self._track_key(key)  # also a key made by the CLI while the server runs
        self._usage.labels(key.id).inc()
        self.state.saw(f"key:{key.id}")
        if key.last_used_at is None or key.last_used_at < now - 60:
            await self.store.note_key_used(key.id, now)
        return Principal("api_key", key.id, key.name, key.role)

    # -- administration ------------------------------------------------------------------------

    async def create_user(self, username: str, password: str, role: Role) -> User:
        """Add a user; the password is hashed with argon2id.

        Raises:
            InvalidAuthInput: a bad username or a password shorter than ``password_min_length``.
            AuthConflict: the name is taken (names are case-insensitive).
        """
        if not USERNAME.fullmatch(username):
            raise InvalidAuthInput("a username is 1-64 letters, digits and _ . @ -, starting with a letter or digit")
        if not self.settings.password_min_length <= len(password) <= MAX_PASSWORD_CHARS:
            raise InvalidAuthInput(
                f"a password has {self.settings.password_min_length} to {MAX_PASSWORD_CHARS} characters"
            )
        user = await self.store.add_user(username, await self._require_passwords().hash(password), role)
        log.info("auth.user_created", user_id=user.id, role=role.value)
        return user

    async def set_user_active(self, username: str, active: bool) -> User:
        """Enable or disable a user; a disabled user's tokens stop working at once."""
        user = await self.store.set_user_active(username, active)
        if user is None:
            raise AuthNotFound(f"no user named {username!r}")
        log.info("auth.user_updated", user_id=user.id, active=active)
        return user

    async def users(self) -> list[User]:
        return await self.store.users()

    async def create_key(self, name: str, role: Role, expires_in: float | None = None) -> CreatedKey:
        """Make an API key; the returned token is the only copy of its secret.

        Raises:
            InvalidAuthInput: a bad name or a non-positive lifetime.
        """
        if not KEY_NAME.fullmatch(name):
            raise InvalidAuthInput("a key name is 1-64 letters, digits, spaces and _ . @ -")
        if expires_in is not None and expires_in <= 0:
            raise InvalidAuthInput("a key's lifetime must be positive")
        made = api_keys.new_key()
        expires_at = time.time() + expires_in if expires_in is not None else None
        key = await self.store.add_key(made.key_id, name, role, made.secret_hash, expires_at)
        self._track_key(key)
        log.info("auth.key_created", key_id=key.id, role=role.value)
        return CreatedKey(key, made.token)

    async def keys(self) -> list[ApiKey]:
        return await self.store.keys()

    async def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key by public id; its usage series is removed from /metrics."""
        key = await self.store.revoke_key(key_id) if re.fullmatch(r"[0-9a-f]{12}", key_id) else None
        if key is None:
            raise AuthNotFound(f"no API key with id {key_id!r}")
        self._untrack_key(key.id)
        log.info("auth.key_revoked", key_id=key.id)
        return key

    # -- helpers ---------------------------------------------------------------------------------

    def _track_key(self, key: ApiKey) -> None:
        if key.id not in self.state.keys:
            self.state.keys[key.id] = key.expires_at
            self._usage.labels(key.id)  # the series exists at zero

    def _untrack_key(self, key_id: str) -> None:
        if key_id in self.state.keys:
            del self.state.keys[key_id]
            with contextlib.suppress(KeyError):  # _track_key made the series; a removal must not fail a revoke
                self._usage.remove(key_id)

    def _session_until(self) -> float:
        """When the access tokens a session issued up to now have all expired: its revocation may be forgotten."""
        return time.time() + self._require_codec().lifetimes["access"]

    def _require_codec(self) -> TokenCodec:
        if self._codec is None:
            raise AuthNotRunning("the auth service is not running")
        return self._codec

    def _require_passwords(self) -> Passwords:
        if self._passwords is None:
            raise AuthNotRunning("the auth service is not running")
        return self._passwords
