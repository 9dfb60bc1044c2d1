"""Who is calling and whether they may: the FastAPI dependencies that gate the API.

Every ``/api/v1`` route and the ``/ws`` websocket need a :class:`Gate`; ``/health`` and
``/ready`` never do. Gating a router (or one route) is one line::

    app.include_router(things.router, dependencies=[require(Permission.THINGS_READ)])
    # reads (GET, HEAD, OPTIONS) need one permission, everything else another:
    app.include_router(things.router, dependencies=[require(Permission.THINGS_READ, write=Permission.THINGS_WRITE)])
    # or on one route of a router:
    @router.post("/{id}/things", dependencies=[require(Permission.THINGS_WRITE)])

``create_app`` gates each router this way (signals, neurons, llm, memory, learning,
network, the websocket and a request's event stream); the auth routes are gated route by
route (login and refresh are public). ``tools:read``/``tools:write`` are defined for a
tools API that does not exist yet.

:func:`check_gated` (called by ``create_app``) refuses to build an app with an ungated
``/api/v1`` route or websocket, so a new router cannot be served open by mistake.
Roles and permissions are one table in :mod:`hal9.auth.permissions`.

When auth is disabled (loopback only), every caller is :data:`~hal9.auth.ANONYMOUS`, an
admin. ``/metrics`` is open unless ``auth.metrics_token`` is set; then it needs
``Authorization: Bearer <metrics_token>``, the way Prometheus' scrape config sends one.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.requests import HTTPConnection

from hal9.auth import ANONYMOUS, AuthService, NotAuthenticated, Permission, PermissionDenied, Principal

#: Methods that only read: they need a gate's read permission.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes under these prefixes must be gated.
GATED_PREFIXES = ("/api/v1", "/ws")
_BEARER = "bearer "


def auth_service(connection: HTTPConnection) -> AuthService | None:
    """The app's auth service, or None when auth is disabled."""
    service: AuthService | None = connection.app.state.auth
    return service


async def current_principal(connection: HTTPConnection) -> Principal:
    """Authenticate the request once (cached on its state) from its bearer token or X-API-Key.

    Raises:
        NotAuthenticated: missing, invalid, expired or revoked credentials (401).
    """
    cached: Principal | None = getattr(connection.state, "principal", None)
    if cached is not None:
        return cached
    service = auth_service(connection)
    if service is None:
        principal = ANONYMOUS
    else:
        principal = await service.authenticate(bearer_token(connection), connection.headers.get("x-api-key"))
    connection.state.principal = principal
    return principal


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    header = connection.headers.get("authorization")
    if header is None:
        return None
    if header[: len(_BEARER)].lower() != _BEARER:
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
    return header[len(_BEARER) :].strip()


PrincipalDep = Annotated[Principal, Depends(current_principal)]


class Gate:
    """A dependency: the caller must be authenticated and hold the permission for the method.

    With no permission at all, any authenticated caller passes (``/auth/me``, ``/auth/logout``).
    """

    def __init__(self, read: Permission | None, write: Permission | None = None) -> None:
        self.read = read
        self.write = write if write is not None else read

    async def __call__(self, principal: PrincipalDep, connection: HTTPConnection) -> Principal:
        reads = connection.scope["type"] == "websocket" or connection.scope["method"] in SAFE_METHODS
        permission = self.read if reads else self.write
        if permission is not None and not principal.can(permission):
            raise PermissionDenied(permission.value)
        return principal


class Public:
    """The explicit mark of an ``/api/v1`` route anyone may call (login and refresh)."""

    async def __call__(self) -> None:
        return None


def require(read: Permission, *, write: Permission | None = None) -> params.Depends:
    """The one-line gate of a router or route: ``dependencies=[require(Permission.X)]``.

    Args:
        read: the permission reads need (and writes too, unless ``write`` is given).
        write: the permission of other methods (POST, PUT, PATCH, DELETE).
    """
    gate: params.Depends = Depends(Gate(read, write))
    return gate


def authenticated() -> params.Depends:
    """A gate any authenticated caller passes, whatever its role."""
    gate: params.Depends = Depends(Gate(None))
    return gate


def public() -> params.Depends:
    """Marks a route as open on purpose (``check_gated`` accepts it)."""
    mark: params.Depends = Depends(Public())
    return mark


def _calls(dependant: Dependant | None) -> Iterator[object]:
    for sub in dependant.dependencies if dependant is not None else ():
        yield sub.call
        yield from _calls(sub)


def routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every route of the app, those of included routers too (FastAPI includes them lazily)."""
    return iter_route_contexts(app.routes)


def check_gated(app: FastAPI) -> None:
    """Refuse an app with an ``/api/v1`` route or a websocket that no :class:`Gate` protects.

    A route without FastAPI dependencies at all (a plain Starlette route or a mount) under
    those prefixes is refused too: it cannot have a gate.

    Raises:
        RuntimeError: naming the open routes.
    """
    open_routes = {
        str(route.path)
        for route in routes(app)
        if str(route.path).startswith(GATED_PREFIXES)
        and not any(isinstance(call, Gate | Public) for call in _calls(getattr(route, "dependant", None)))
    }
    if open_routes:
        raise RuntimeError(
            f"routes without a permission: {', '.join(sorted(open_routes))}; "
            "include their router with dependencies=[require(Permission.X)] (hal9.server.auth)"
        )


async def metrics_access(connection: HTTPConnection) -> None:
    """``/metrics`` needs ``Authorization: Bearer <auth.metrics_token>`` when one is configured."""
    settings = connection.app.state.runtime.config.auth
    if settings.metrics_token is None:
        return
    presented = bearer_token(connection) or ""
    expected = settings.metrics_token.get_secret_value()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise NotAuthenticated("/metrics needs 'Authorization: Bearer <metrics token>'")
