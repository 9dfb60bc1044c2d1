"""Request-scoped access to the runtime the app serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hal9.config import ServerConfig
from hal9.runtime.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_server_config(request: Request) -> ServerConfig:
    return get_runtime(request).config.server


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServerConfigDep = Annotated[ServerConfig, Depends(get_server_config)]
