"""The public API: everything in ``hal9.__all__`` exists, and nothing public is left out of it."""

from __future__ import annotations

import importlib.metadata
import types

import hal9
import hal9.errors

#: The concepts ARCHITECTURE.md promises at the top level.
CORE = {
    "Runtime",
    "Neuron",
    "Signal",
    "Layer",
    "Service",
    "Actor",
    "ActorState",
    "Config",
    "load_config",
    "LLM",
    "LLMResponse",
    "MockLLM",
    "TraceResult",
    "Hop",
    "BranchError",
    "__version__",
}


def test_every_name_in_all_exists() -> None:
    missing = [name for name in hal9.__all__ if not hasattr(hal9, name)]
    assert missing == []
    assert len(set(hal9.__all__)) == len(hal9.__all__)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from hal9 import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(hal9.__all__)


def test_every_public_name_bound_in_hal9_is_in_all() -> None:
    public = {
        name
        for name, value in vars(hal9).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(hal9.__all__) == set()


def test_every_error_class_is_exported() -> None:
    errors = {
        name
        for name, value in vars(hal9.errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == "hal9.errors"
    }
    assert errors - set(hal9.__all__) == set()
    assert all(issubclass(getattr(hal9, name), hal9.Hal9Error) for name in errors)


def test_core_concepts_are_exported() -> None:
    assert CORE - set(hal9.__all__) == set()


def test_version_matches_the_installed_distribution() -> None:
    assert hal9.__version__ == importlib.metadata.version("hal9")
