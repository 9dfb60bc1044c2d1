"""Password hashing with argon2id (argon2-cffi), off the event loop and bounded in concurrency.

Each hash takes ``memory_kib`` of memory and tens of milliseconds of CPU, so hashes run in
worker threads through a limiter: a burst of logins queues instead of exhausting memory.
"""

from __future__ import annotations

import secrets

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: Hashes computed at once; more wait their turn.
MAX_CONCURRENT_HASHES = 2


class Passwords:
    """Hash and verify passwords; a login for an unknown user verifies against a dummy hash.

    Args:
        time_cost: argon2id iterations.
        memory_kib: memory per hash in KiB.
        parallelism: argon2id lanes.
    """

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._limiter = anyio.CapacityLimiter(MAX_CONCURRENT_HASHES)
        self._dummy: str | None = None

    async def prepare(self) -> None:
        """Make the dummy hash, verified when a user does not exist so that answer takes as long."""
        self._dummy = await self.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (PHC string with its own salt and parameters)."""
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; None (no such user) costs the same and is False."""
        return await anyio.to_thread.run_sync(self._verify, stored, password, limiter=self._limiter)

    def _verify(self, stored: str | None, password: str) -> bool:
        if self._dummy is None:
            raise RuntimeError("Passwords.prepare() was not awaited")
        try:
            self._hasher.verify(stored if stored is not None else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None
