"""``/api/v1/auth``: login, refresh, logout, who am I, and the administration of users and API keys."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from hal9.auth import ApiKey, AuthService, InvalidAuthInput, Permission, Principal, Role, User
from hal9.auth.service import KEY_NAME, MAX_PASSWORD_CHARS, USERNAME
from hal9.server.auth import PrincipalDep, auth_service, authenticated, public, require
from hal9.server.body import JSONRoute
from hal9.server.schemas import RequestBody

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=JSONRoute)

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "missing, invalid or expired credentials"}}
_ADMIN: dict[int | str, dict[str, Any]] = {**_UNAUTHORIZED, 403: {"description": "the role lacks the permission"}}
#: What the auth service says of a name that does not match its pattern (the same words as hal9.auth.service).
_BAD_USERNAME = "a username is 1-64 letters, digits and _ . @ -, starting with a letter or digit"
_BAD_KEY_NAME = "a key name is 1-64 letters, digits, spaces and _ . @ -"


async def get_auth(request: Request) -> AuthService:
    service = auth_service(request)
    if service is None:
        raise HTTPException(503, "authentication is disabled on this server ([auth] enabled = false)")
    return service


AuthDep = Annotated[AuthService, Depends(get_auth)]


def matching(pattern: re.Pattern[str], value: str, refusal: str) -> str:
    """``value`` if all of it matches ``pattern``, as its OpenAPI ``pattern`` says.

    Python's ``$`` also matches before a final newline, JSON Schema's does not: the whole
    value must match, so that ``"name\n"`` is refused here as the description says.

    Raises:
        InvalidAuthInput: with ``refusal`` (422).
    """
    if pattern.fullmatch(value) is None:
        raise InvalidAuthInput(refusal)
    return value


class LoginRequest(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class RefreshRequest(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(RequestBody):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=4096)


class TokenView(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_expires_in: int


class PrincipalView(BaseModel):
    kind: str
    id: str
    name: str
    role: Role
    permissions: list[str]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalView:
        allowed = sorted(p.value for p in Permission if principal.can(p))
        return cls(kind=principal.kind, id=principal.id, name=principal.name, role=principal.role, permissions=allowed)


class UserView(BaseModel):
    id: int
    username: str
    role: Role
    active: bool
    created_at: float

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls.model_validate(user, from_attributes=True)


class CreateUserRequest(RequestBody):
    # The pattern is checked by the route (matching()), with the auth service's message.
    username: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": USERNAME.pattern})
    # At least auth.password_min_length characters: the app's OpenAPI description says how many (hal9.server.openapi).
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    role: Role = Field(default=Role.VIEWER, strict=False)


class UpdateUserRequest(RequestBody):
    active: bool


class KeyView(BaseModel):
    id: str
    name: str
    role: Role
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls.model_validate(key, from_attributes=True)


class CreatedKeyView(KeyView):
    key: str = Field(description="the API key; shown this once, only its hash is kept")


class CreateKeyRequest(RequestBody):
    # The pattern is checked by the route (matching()), with the auth service's message.
    name: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": KEY_NAME.pattern})
    role: Role = Field(default=Role.VIEWER, strict=False)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650, allow_inf_nan=False)


# -- sessions --------------------------------------------------------------------------------


@router.post(
    "/login",
    response_model=TokenView,
    dependencies=[public()],
    responses={
        401: {"description": "invalid username or password"},
        429: {"description": "too many failed logins for this user or address; retry after Retry-After seconds"},
    },
)
async def login(body: LoginRequest, request: Request, auth: AuthDep) -> TokenView:
    """Exchange a username and password for an access token (15 min) and a refresh token (7 days)."""
    address = request.client.host if request.client is not None else None
    pair = await auth.login(body.username, body.password, address)
    return TokenView(**asdict(pair))


@router.post(
    "/refresh",
    response_model=TokenView,
    dependencies=[public()],
    responses={401: {"description": "the refresh token is invalid, expired, or was used already"}},
)
async def refresh(body: RefreshRequest, auth: AuthDep) -> TokenView:
    """Spend a refresh token for a new pair; a refresh token works once (reuse revokes the session)."""
    return TokenView(**asdict(await auth.refresh(body.refresh_token)))


@router.post("/logout", status_code=204, dependencies=[authenticated()], responses=_UNAUTHORIZED)
async def logout(principal: PrincipalDep, auth: AuthDep, body: LogoutRequest | None = None) -> Response:
    """Revoke the access token of this request and, if given, the refresh token's session."""
    await auth.logout(principal, body.refresh_token if body is not None else None)
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalView, dependencies=[authenticated()], responses=_UNAUTHORIZED)
async def me(principal: PrincipalDep) -> PrincipalView:
    """Who the credentials of this request belong to, and what they may do."""
    return PrincipalView.of(principal)


# -- users (admin) -------------------------------------------------------------------------------


@router.get("/users", response_model=list[UserView], dependencies=[require(Permission.USERS_ADMIN)], responses=_ADMIN)
async def list_users(auth: AuthDep) -> list[UserView]:
    """Every user (never a password hash)."""
    return [UserView.of(user) for user in await auth.users()]


@router.post(
    "/users",
    status_code=201,
    response_model=UserView,
    dependencies=[require(Permission.USERS_ADMIN)],
    responses={**_ADMIN, 409: {"description": "a user with this name exists (names are case-insensitive)"}},
)
async def create_user(body: CreateUserRequest, auth: AuthDep) -> UserView:
    """Add a user with a role (viewer by default)."""
    username = matching(USERNAME, body.username, _BAD_USERNAME)
    return UserView.of(await auth.create_user(username, body.password, body.role))


@router.patch(
    "/users/{username}",
    response_model=UserView,
    dependencies=[require(Permission.USERS_ADMIN)],
    responses={**_ADMIN, 404: {"description": "no user with this name"}},
)
async def update_user(
    username: Annotated[str, Path(max_length=64)], body: UpdateUserRequest, auth: AuthDep
) -> UserView:
    """Enable or disable a user; a disabled user's tokens stop working at once."""
    return UserView.of(await auth.set_user_active(username, body.active))


# -- API keys (admin) ------------------------------------------------------------------------------


@router.get("/keys", response_model=list[KeyView], dependencies=[require(Permission.KEYS_ADMIN)], responses=_ADMIN)
async def list_keys(auth: AuthDep) -> list[KeyView]:
    """Every API key by public id (never a secret or its hash)."""
    return [KeyView.of(key) for key in await auth.keys()]


@router.post(
    "/keys",
    status_code=201,
    response_model=CreatedKeyView,
    dependencies=[require(Permission.KEYS_ADMIN)],
    responses=_ADMIN,
)
async def create_key(body: CreateKeyRequest, auth: AuthDep) -> CreatedKeyView:
    """Make an API key; the answer holds the key itself, which is never shown again."""
    name = matching(KEY_NAME, body.name, _BAD_KEY_NAME)
    expires_in = body.expires_in_days * 86400 if body.expires_in_days is not None else None
    created = await auth.create_key(name, body.role, expires_in)
    return CreatedKeyView(**KeyView.of(created.key).model_dump(), key=created.token)


@router.delete(
    "/keys/{key_id}",
    response_model=KeyView,
    dependencies=[require(Permission.KEYS_ADMIN)],
    responses={**_ADMIN, 404: {"description": "no API key with this id"}},
)
async def revoke_key(key_id: Annotated[str, Path(max_length=64)], auth: AuthDep) -> KeyView:
    """Revoke a key by its public id; it stops working at once."""
    return KeyView.of(await auth.revoke_key(key_id))
