"""API keys: ``hal9_<id>_<secret>``. The id is public (logs, metrics, lists); only a hash of the secret is stored.

The secret has 256 bits of entropy, so one SHA-256 of it is enough to store: unlike a
password it cannot be guessed, and a fast hash keeps each request's check cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "hal9"
_ID_BYTES = 6
_SECRET_BYTES = 32
_KEY = re.compile(r"^hal9_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: ``token`` is shown once, ``secret_hash`` is what is stored."""

    key_id: str
    token: str
    secret_hash: str


def new_key() -> NewKey:
    key_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret))


def looks_like_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (rather than a JWT)."""
    return token.startswith(PREFIX + "_")


def parse(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    match = _KEY.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
