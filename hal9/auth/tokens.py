"""JWT access and refresh tokens (PyJWT), and the signing key they are made with.

Only the configured HMAC algorithm is accepted when decoding: a token signed with
``none``, another algorithm or another key is refused, whatever its header says. Every
claim the service relies on is required, and issuer and audience must match.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt

from hal9.auth.permissions import Role
from hal9.errors import AuthError, NotAuthenticated

TokenType = Literal["access", "refresh"]
_REQUIRED = ["sub", "role", "jti", "iat", "exp", "type", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says."""

    user_id: int
    role: Role
    jti: str
    type: TokenType
    issued_at: int
    expires_at: int
    family: str | None = None


class TokenCodec:
    """Issues and checks tokens with one key, algorithm, issuer and audience.

    Args:
        key: the HMAC signing key (at least 32 bytes).
        algorithm: HS256, HS384 or HS512; the only algorithm accepted.
        issuer: the ``iss`` claim.
        audience: the ``aud`` claim.
        lifetimes: seconds an access and a refresh token are valid.
    """

    def __init__(self, key: str, algorithm: str, issuer: str, audience: str, lifetimes: dict[TokenType, int]) -> None:
        self._key = key
        self._algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.lifetimes = lifetimes

    def issue(self, type_: TokenType, user_id: int, role: Role, family: str | None = None) -> tuple[str, Claims]:
        """A signed token and its claims; ``family`` (claim ``fam``) names the session, on both kinds of token."""
        now = int(time.time())
        claims = Claims(user_id, role, uuid.uuid4().hex, type_, now, now + self.lifetimes[type_], family)
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "role": role.value,
            "jti": claims.jti,
            "iat": now,
            "exp": claims.expires_at,
            "type": type_,
            "iss": self.issuer,
            "aud": self.audience,
        }
        if family is not None:
            payload["fam"] = family
        return jwt.encode(payload, self._key, algorithm=self._algorithm), claims

    def decode(self, token: str, expected: TokenType) -> Claims:
        """The claims of a valid token of the ``expected`` type.

        Raises:
            NotAuthenticated: bad signature or algorithm, expired, malformed, or the other type.
        """
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the token has expired") from None
        except jwt.InvalidTokenError:
            # One message for every other defect: the client learns nothing about which check failed.
            raise NotAuthenticated("the token is invalid") from None
        if payload.get("type") != expected:
            raise NotAuthenticated(f"a {payload.get('type')!s:.10} token was given where a {expected} token is needed")
        try:
            claims = Claims(
                user_id=int(payload["sub"]),
                role=Role(payload["role"]),
                jti=str(payload["jti"]),
                type=expected,
                issued_at=int(payload["iat"]),
                expires_at=int(payload["exp"]),
                family=str(payload["fam"]) if "fam" in payload else None,
            )
        except (ValueError, TypeError):
            raise NotAuthenticated("the token is invalid") from None
        if expected == "refresh" and claims.family is None:
            raise NotAuthenticated("the token is invalid")
        return claims


def load_signing_key(configured: str | None, path: Path) -> str:
    """The configured key, or the one kept in ``path``, generated there (mode 0600) on first use.

    Raises:
        AuthError: the key file is readable by others than its owner, or too short.
    """
    if configured is not None:
        return configured
    try:
        # O_EXCL: two processes starting at once never both write a key.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthError(
                f"the signing key file {path} is accessible to others than its owner; chmod 600 it"
            ) from None
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < 32:
            raise AuthError(f"the signing key in {path} is shorter than 32 characters") from None
        return key
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
