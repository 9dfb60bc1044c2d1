"""Request-scoped access to the runtime the app serves.

Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a
thread hop per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hal9.config import ServerConfig
from hal9.runtime.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The runtime the app serves."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_server_config(request: Request) -> ServerConfig:
    return runtime_of(request).config.server


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServerConfigDep = Annotated[ServerConfig, Depends(get_server_config)]
