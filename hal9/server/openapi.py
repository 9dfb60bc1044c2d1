"""The app's OpenAPI description, completed so that a generated client is right about the server.

FastAPI describes each route's parameters, bodies and declared answers. This adds what the
server does around the routes, from how each route is built and from the configuration:

- the credentials (``X-API-Key`` or ``Authorization: Bearer``) of every gated route when
  auth is on, and its 401, 403 (a role without the permission) and 503 (auth stopping);
  503 on the routes of the auth service (auth disabled, or stopping);
- on a route that reads a JSON body: 400 (a body that is not UTF-8), 413 (a body over
  the server's limit) and 422;
- limits that come from the configuration: the longest ``content`` of a request
  (``server.max_content_chars``) and of a memory entry (``memory.max_content_chars``),
  the shortest password (``auth.password_min_length``);
- the body of every error answer: :class:`~hal9.server.schemas.ErrorMessage`, and for 422
  a message or a list of validation errors (see :mod:`hal9.server.errors`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from hal9.config import Config
from hal9.server.auth import SAFE_METHODS, Gate, metrics_access
from hal9.server.auth_routes import get_auth
from hal9.server.schemas import ErrorMessage

#: The security schemes of the API, by their name in the description.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "an API key (hal9_...)"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "an access token from /api/v1/auth/login"},
}
#: Either scheme will do.
EITHER_CREDENTIAL: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
ERROR_MESSAGE_REF = {"$ref": "#/components/schemas/ErrorMessage"}

_BODY_ANSWERS = {
    "400": "the body is not UTF-8 text",
    "413": "the body is larger than the server accepts",
    "422": "the request is invalid: the body or a parameter breaks the schema, or a service refused it",
}
_GATE_ANSWERS = {
    "401": "missing, invalid, expired or revoked credentials",
    "503": "the server is starting or stopping (its auth service is not running); retry after Retry-After seconds",
}
_PERMISSION_ANSWER = "the caller's role lacks the permission {}"
_AUTH_SERVICE_ANSWER = {"503": "authentication is disabled on this server, or its auth service is not running"}


def install_openapi(app: FastAPI, config: Config) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) answer the completed description, built once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(generate(), app, config)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], app: FastAPI, config: Config) -> None:
    """Add to FastAPI's ``document`` what the server does around its routes (see the module's docstring)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorMessage"] = ErrorMessage.model_json_schema()
    _allow_message_as_422(schemas)
    _limits(schemas, config)
    if config.auth.enabled:
        document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for route in _api_routes(app):
        for method in sorted(route.methods or ()):
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if route.body_field is not None:
                _add(responses, _BODY_ANSWERS)
            if config.auth.enabled:
                _credentials(operation, responses, route, method, config)
            if get_auth in _calls(route.dependant):
                _add(responses, _AUTH_SERVICE_ANSWER)
            for status, answer in responses.items():
                if status[0] in "45" and status != "422" and "content" not in answer:
                    answer["content"] = {"application/json": {"schema": ERROR_MESSAGE_REF}}
            operation["responses"] = dict(sorted(responses.items()))


def _credentials(
    operation: dict[str, Any], responses: dict[str, Any], route: RouteContext, method: str, config: Config
) -> None:
    """Security and the answers of a gated route (``/metrics`` when it has a token)."""
    gates = [call for call in _calls(route.dependant) if isinstance(call, Gate)]
    if gates:
        operation["security"] = EITHER_CREDENTIAL
        _add(responses, _GATE_ANSWERS)
        permissions = [gate.read if method in SAFE_METHODS else gate.write for gate in gates]
        needed = [permission.value for permission in permissions if permission is not None]
        if needed:
            _add(responses, {"403": _PERMISSION_ANSWER.format(", ".join(f"`{name}`" for name in needed))})
    elif metrics_access in _calls(route.dependant) and config.auth.metrics_token is not None:
        operation["security"] = [{"Bearer": []}]
        _add(responses, {"401": "missing or wrong metrics token (auth.metrics_token)"})


def _add(responses: dict[str, Any], answers: dict[str, str]) -> None:
    for status, description in answers.items():
        responses.setdefault(status, {"description": description})


def _allow_message_as_422(schemas: dict[str, Any]) -> None:
    """A 422's ``detail`` is a list of validation errors, or the message of a service that refused the input."""
    invalid = schemas.get("HTTPValidationError")
    if invalid is not None:
        errors = invalid["properties"]["detail"]
        invalid["properties"]["detail"] = {"anyOf": [errors, {"type": "string"}], "title": "Detail"}
        invalid["required"] = ["detail"]


def _limits(schemas: dict[str, Any], config: Config) -> None:
    """The limits the configuration sets, where requests meet them."""
    for model, field, keyword, value in (
        ("SignalRequest", "content", "maxLength", config.server.max_content_chars),
        ("StoreRequest", "content", "maxLength", config.memory.max_content_chars),
        ("CreateUserRequest", "password", "minLength", config.auth.password_min_length),
    ):
        properties = schemas.get(model, {}).get("properties", {})
        if field in properties:
            properties[field][keyword] = value


def _api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """The routes of the description; a context reads as its route, with the dependencies of its routers."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.original_route.include_in_schema:
            yield context


def _calls(dependant: Dependant | None) -> Iterator[object]:
    for sub in dependant.dependencies if dependant is not None else ():
        yield sub.call
        yield from _calls(sub)
