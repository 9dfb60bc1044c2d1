"""The public surface is pinned: widening or narrowing ``hal9`` or ``hal9.errors`` is a visible decision."""

from __future__ import annotations

import importlib.metadata
import types

import hal9
import hal9.errors

#: What a user needs to write, run, test and extend a network. Change it here on purpose, or not at all.
HAL9 = {
    "__version__",
    # run a network
    "Runtime",
    "Config",
    "load_config",
    "TraceResult",
    "Hop",
    "BranchError",
    # write a neuron
    "Neuron",
    "Signal",
    "Layer",
    # extend: services and the protocols neurons call
    "Service",
    "LLM",
    "LLMResponse",
    "ToolSpec",
    "ToolUse",
    "ToolResult",
    "Turn",
    "Memory",
    "MemoryEntry",
    "MemoryRecord",
    "Tools",
    "ToolOutput",
    # LLM services: the mock for tests, the real one
    "MockLLM",
    "ClaudeService",
}

ERRORS = {
    "VIOLATION_TYPES",
    "ViolationType",
    "Hal9Error",
    "ConfigError",
    "MailboxFull",
    "NeuronStopped",
    "RuntimeNotRunning",
    "TopologyError",
    "NeuronNotFound",
    "NoEntryNeuron",
    "ServiceUnavailable",
    "TraceNotFound",
    "LLMError",
    "LLMRateLimited",
    "LLMTimeout",
    "LLMUnavailable",
    "LLMCircuitOpen",
    "LLMBadRequest",
    "LLMAuthError",
    "LLMBadResponse",
    "BudgetExceeded",
    "ToolCallFailed",
    "NotTransportable",
    "PeerUnavailable",
    "RemoteRejected",
    "NetworkUnavailable",
    "InvalidMemoryEntry",
    "MemoryIndexBusy",
    "MemoryNotRunning",
    "ToolError",
    "SandboxViolation",
    "InvalidFeedback",
    "FeedbackTooEarly",
    "AuthError",
    "NotAuthenticated",
    "InvalidCredentials",
    "PermissionDenied",
    "TooManyAttempts",
    "AuthConflict",
    "AuthNotFound",
    "InvalidAuthInput",
    "AuthNotRunning",
}


def test_hal9_exports_exactly_the_pinned_names() -> None:
    assert set(hal9.__all__) == HAL9
    assert len(hal9.__all__) == len(HAL9)


def test_errors_export_exactly_the_pinned_names() -> None:
    assert set(hal9.errors.__all__) == ERRORS
    assert len(hal9.errors.__all__) == len(ERRORS)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from hal9 import *", namespace)
    assert set(namespace) - {"__builtins__"} == HAL9


def test_nothing_public_is_bound_in_hal9_beyond_all() -> None:
    """Submodules aside (``hal9.errors``, ``hal9.testing``...), ``import hal9`` shows only ``__all__``."""
    public = {
        name
        for name, value in vars(hal9).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= HAL9


def test_names_show_their_public_path() -> None:
    """``hal9.Neuron`` prints as ``hal9.Neuron``, not as the module that implements it."""
    wrong = {
        name: getattr(hal9, name).__module__
        for name in HAL9 - {"__version__"}
        if getattr(hal9, name).__module__ != "hal9"
    }
    assert wrong == {}
    assert repr(hal9.Neuron) == "<class 'hal9.Neuron'>"


def test_every_error_lives_in_hal9_errors_and_is_a_hal9_error() -> None:
    classes = {name: getattr(hal9.errors, name) for name in ERRORS if isinstance(getattr(hal9.errors, name), type)}
    assert {name: cls.__module__ for name, cls in classes.items() if cls.__module__ != "hal9.errors"} == {}
    assert [name for name, cls in classes.items() if not issubclass(cls, hal9.errors.Hal9Error)] == []
    assert set(hal9.errors.VIOLATION_TYPES) == set(hal9.errors.ViolationType.__args__)


def test_every_error_class_defined_anywhere_in_hal9_errors_is_exported() -> None:
    defined = {
        name
        for name, value in vars(hal9.errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == "hal9.errors"
    }
    assert defined == {name for name in ERRORS if name[0].isupper() and name != "VIOLATION_TYPES"} - {"ViolationType"}


def test_the_actor_base_is_not_public() -> None:
    """Neurons are what users subclass; the actor machinery under them is not offered as a base class."""
    assert not hasattr(hal9, "Actor")
    assert "Actor" not in hal9.__all__


def test_version_comes_from_the_installed_distribution() -> None:
    assert hal9.__version__ == importlib.metadata.version("hal9")
