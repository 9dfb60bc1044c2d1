"""Authentication: users with argon2id passwords, JWT access and refresh tokens, API keys.

``AuthService`` keeps everything in the runtime's SQLite database and feeds the
``hal9_auth_*`` metric families; :mod:`hal9.server.auth` turns it into FastAPI
dependencies and the ``/api/v1/auth`` routes. Roles and their permissions are one table
in :mod:`hal9.auth.permissions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hal9.auth.permissions import ROLE_PERMISSIONS, Permission, Role, allows
from hal9.auth.principal import ANONYMOUS, Principal
from hal9.auth.service import AuthService, CreatedKey, TokenPair
from hal9.auth.store import ApiKey, User
from hal9.errors import (
    AuthConflict,
    AuthError,
    AuthNotFound,
    AuthNotRunning,
    InvalidAuthInput,
    InvalidCredentials,
    NotAuthenticated,
    PermissionDenied,
    TooManyAttempts,
)

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.runtime.service import Service

__all__ = [
    "ANONYMOUS",
    "ROLE_PERMISSIONS",
    "ApiKey",
    "AuthConflict",
    "AuthError",
    "AuthNotFound",
    "AuthNotRunning",
    "AuthService",
    "CreatedKey",
    "InvalidAuthInput",
    "InvalidCredentials",
    "NotAuthenticated",
    "Permission",
    "PermissionDenied",
    "Principal",
    "Role",
    "TokenPair",
    "TooManyAttempts",
    "User",
    "allows",
    "auth_services",
]


def auth_services(config: Config) -> dict[str, Service]:
    """The services a server adds to its runtime for ``config.auth``: ``{"auth": AuthService}`` or none.

    The HTTP server's composition (``python -m hal9 serve``) passes these to the
    :class:`~hal9.Runtime`; a runtime used without a server has no use for them.
    """
    return {"auth": AuthService.from_config(config)} if config.auth.enabled else {}
