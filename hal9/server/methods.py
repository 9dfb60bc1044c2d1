"""The methods a path answers, for ``Allow``: every method of every route of that path.

Why: the router tries one route at a time, so a path served by several routes (``GET`` and
``POST /api/v1/auth/keys`` are two) answered a method none of them takes with the
``Allow`` of the first route only, and ``OPTIONS`` (which no route declares) with a 405
that named one method. The 405 handler (:mod:`hal9.server.errors`) names them all with
:func:`allowed_methods`, and answers ``OPTIONS`` with 204 and that list (plus ``OPTIONS``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import Scope

#: Each HTTP route's path pattern and methods; made once per app, on its first 405.
PathMethods = list[tuple[re.Pattern[str], frozenset[str]]]


def path_methods(routes: Sequence[BaseRoute]) -> PathMethods:
    """The HTTP routes of an app with their methods (websocket routes have none)."""
    found: PathMethods = []
    for context in iter_route_contexts(routes):
        methods = context.methods
        pattern = getattr(context, "path_regex", None)
        if methods and isinstance(pattern, re.Pattern):
            found.append((pattern, frozenset(methods)))
    return found


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route of ``app`` answers on the request's path, sorted; empty for an unknown path."""
    table: PathMethods | None = getattr(app.state, "path_methods", None)
    if table is None:
        table = app.state.path_methods = path_methods(app.routes)
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):  # routes match the path below the app's mount point
        path = path[len(root) :]
    return sorted({method for pattern, methods in table if pattern.match(path) for method in methods})
