"""Loading: a TOML file, ``HAL9_SECTION__KEY`` environment overrides, validation."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hal9.config.root import Config
from hal9.errors import ConfigError

ENV_PREFIX = "HAL9_"
ENV_NESTING = "__"


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
    return f"invalid configuration ({origin}):\n  " + "\n  ".join(lines)


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``HAL9_SECTION__KEY=value`` variables into a nested mapping.

    Values stay strings; pydantic converts them (``"8081"`` to an int, ``"false"`` to a bool).
    """
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_NESTING)]
        if not all(path):
            raise ConfigError(f"malformed environment override {name}")
        node = overrides
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment override {name} conflicts with another override")
            node = child
        # The reverse of the check above: a value must not replace a section another override
        # set keys in, or that override would vanish silently depending on variable order.
        if isinstance(node.get(path[-1]), dict):
            raise ConfigError(f"environment override {name} conflicts with another override")
        node[path[-1]] = value
    return overrides


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read a TOML file (optional), apply environment overrides and validate.

    Args:
        path: a TOML file; None means defaults only.
        environ: the environment to read ``HAL9_*`` overrides from; defaults to ``os.environ``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown or invalid.
    """
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    overrides = env_overrides(os.environ if environ is None else environ)
    if overrides:
        origin += " + HAL9_* environment"
        data = _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
