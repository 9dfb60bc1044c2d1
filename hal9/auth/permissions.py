"""Roles and their permissions: the one table that decides who may do what.

A permission is ``resource:action``. ``read`` permissions are given to every role,
``write`` ones to operators and admins, and the ``auth:*`` administration of users and
keys to admins only. A new router picks an existing permission, or adds one here and
to the roles that should have it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user or API key is allowed to do, from most to least."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    """One thing a principal may do through the API."""

    SIGNALS_READ = "signals:read"
    SIGNALS_WRITE = "signals:write"  # submit requests; give feedback on results
    NEURONS_READ = "neurons:read"
    NEURONS_WRITE = "neurons:write"
    LLM_READ = "llm:read"
    MEMORY_READ = "memory:read"
    MEMORY_WRITE = "memory:write"
    EVENTS_READ = "events:read"  # the /ws event stream
    LEARNING_READ = "learning:read"
    LEARNING_WRITE = "learning:write"
    NETWORK_READ = "network:read"
    TOOLS_READ = "tools:read"
    TOOLS_WRITE = "tools:write"
    USERS_ADMIN = "auth:users"
    KEYS_ADMIN = "auth:keys"


_READ = frozenset(p for p in Permission if p.value.endswith(":read"))
_WRITE = frozenset(p for p in Permission if p.value.endswith(":write"))

#: The permissions of each role.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.OPERATOR: _READ | _WRITE,
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` has ``permission``."""
    return permission in ROLE_PERMISSIONS[role]
