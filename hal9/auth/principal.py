"""Who is calling: a user (by access token), an API key, or nobody when auth is off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hal9.auth.permissions import Permission, Role, allows

PrincipalKind = Literal["user", "api_key", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    Attributes:
        kind: ``user`` (a JWT), ``api_key``, or ``anonymous`` (auth is disabled: loopback only).
        id: the user's id or the key's public id.
        name: the username or the key's name.
        role: what it may do.
        token_id: the ``jti`` of the access token it came with (logout revokes it).
        token_expires_at: when that token expires (Unix time).
    """

    kind: PrincipalKind
    id: str
    name: str
    role: Role
    token_id: str | None = None
    token_expires_at: float | None = None

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)


#: The caller when auth is disabled (accepted only on a loopback address): everything is allowed.
ANONYMOUS = Principal("anonymous", "anonymous", "anonymous", Role.ADMIN)
