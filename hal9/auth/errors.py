"""Errors of the auth service; ``hal9.server.errors`` maps each to its HTTP status.

Messages are safe to show a client: they never contain a password, token or key, and
a refused login never says whether the user exists.
"""

from __future__ import annotations

from hal9.errors import Hal9Error


class AuthError(Hal9Error):
    """Base class of the auth errors."""


class NotAuthenticated(AuthError):
    """No credentials, or credentials that are invalid, expired, revoked or of the wrong type (401)."""


class InvalidCredentials(NotAuthenticated):
    """A login with an unknown user, a disabled user or a wrong password: one message for all three."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class PermissionDenied(AuthError):
    """The principal is authenticated but its role lacks the permission (403)."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"this needs the permission {permission!r}, which your role does not have")
        self.permission = permission


class TooManyAttempts(AuthError):
    """Too many failed logins for this user or from this address; retry after ``retry_after`` seconds (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed login attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class AuthConflict(AuthError):
    """A user with this name exists already (409)."""


class AuthNotFound(AuthError):
    """No such user or API key (404)."""


class InvalidAuthInput(AuthError, ValueError):
    """A username, password, role or expiry was refused before anything was stored (422)."""


class AuthNotRunning(AuthError):
    """The auth service is not started (503)."""
