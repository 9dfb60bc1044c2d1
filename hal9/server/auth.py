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

Credentials come in headers: ``Authorization: Bearer <token or API key>`` or ``X-API-Key``.
A WebSocket client that cannot set headers (a browser) offers two subprotocols instead,
``hal9.events`` and ``hal9.bearer.<token or API key>``; the server answers with
``hal9.events``, never echoing the one that carries the secret. Credentials in the query
string (``?api_key=``, ``?token=``, ``?access_token=``) are refused with a 401 even beside
valid headers: query strings end up in proxy and server logs.

When auth is disabled (loopback only), every caller is :data:`~hal9.auth.ANONYMOUS`, an
admin. ``/metrics`` is open unless ``auth.metrics_token`` is set; then it needs
``Authorization: Bearer <metrics_token>``, the way Prometheus' scrape config sends one.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import parse_qsl

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
#: The subprotocol of ``/ws``: the one the server accepts (and echoes) when a client offers it.
EVENTS_SUBPROTOCOL = "hal9.events"
#: A ``/ws`` subprotocol offered beside ``hal9.events`` that carries a credential: ``hal9.bearer.<token>``.
CREDENTIAL_SUBPROTOCOL = "hal9.bearer."
#: Query parameters that would carry a credential: refused, never read.
CREDENTIAL_QUERY_PARAMETERS = frozenset({"api_key", "apikey", "token", "access_token", "refresh_token"})


def auth_service(connection: HTTPConnection) -> AuthService | None:
    """The app's auth service, or None when auth is disabled."""
    service: AuthService | None = connection.app.state.auth
    return service


async def current_principal(connection: HTTPConnection) -> Principal:
    """Authenticate the request once (cached on its state) from its bearer token or X-API-Key.

    A websocket without either may carry its credential in a ``hal9.bearer.<token>`` subprotocol.

    Raises:
        NotAuthenticated: missing, invalid, expired or revoked credentials, or credentials in the query (401).
    """
    cached: Principal | None = getattr(connection.state, "principal", None)
    if cached is not None:
        return cached
    service = auth_service(connection)
    if service is None:
        principal = ANONYMOUS
    else:
        refuse_query_credentials(connection)
        bearer, api_key = bearer_token(connection), connection.headers.get("x-api-key")
        if bearer is None and api_key is None and connection.scope["type"] == "websocket":
            bearer = subprotocol_credential(connection)
        principal = await service.authenticate(bearer, api_key)
    connection.state.principal = principal
    return principal


def refuse_query_credentials(connection: HTTPConnection) -> None:
    """Refuse a request whose query string has a credential parameter, even beside good headers.

    A query string is logged by proxies and load balancers (HAL9's own logs drop it), so a
    client sending its key there should learn at once, not after it has leaked everywhere.

    Raises:
        NotAuthenticated: naming where credentials go instead.
    """
    query: bytes = connection.scope.get("query_string", b"")
    if not query:  # nearly every request: nothing to parse
        return
    names = {name.lower() for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
    if names & CREDENTIAL_QUERY_PARAMETERS:
        raise NotAuthenticated(
            "credentials are not accepted in the query string (it ends up in logs): send "
            "'Authorization: Bearer <token>' or 'X-API-Key', or on /ws the subprotocols "
            f"'{EVENTS_SUBPROTOCOL}' and '{CREDENTIAL_SUBPROTOCOL}<token>'"
        )


def subprotocol_credential(connection: HTTPConnection) -> str | None:
    """The token of a websocket's ``hal9.bearer.<token>`` subprotocol, or None if it offers none.

    The server must answer with one of the offered subprotocols (RFC 6455; browsers fail the
    connection otherwise) and must not echo the secret, so ``hal9.events`` has to be offered too.

    Raises:
        NotAuthenticated: several credential subprotocols, or one without ``hal9.events``.
    """
    offered: list[str] = connection.scope.get("subprotocols") or []
    tokens = [
        protocol[len(CREDENTIAL_SUBPROTOCOL) :] for protocol in offered if protocol.startswith(CREDENTIAL_SUBPROTOCOL)
    ]
    if not tokens:
        return None
    if len(tokens) > 1:
        raise NotAuthenticated(f"offer one '{CREDENTIAL_SUBPROTOCOL}<token>' subprotocol, not {len(tokens)}")
    if EVENTS_SUBPROTOCOL not in offered:
        raise NotAuthenticated(
            f"a '{CREDENTIAL_SUBPROTOCOL}<token>' subprotocol needs '{EVENTS_SUBPROTOCOL}' offered with it: "
            "the server answers with that one and never echoes the token"
        )
    return tokens[0]


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
