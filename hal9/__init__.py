"""HAL9: a runtime for hierarchical networks of AI neurons.

The names here are what a user needs to write, run, test and extend a network; the errors are in
:mod:`hal9.errors`, the test helpers in :mod:`hal9.testing`, the configuration sections in
:mod:`hal9.config`. Every other module is an implementation detail and may change.
"""

import importlib.metadata as _metadata
import typing as _typing

from hal9.config import Config as Config
from hal9.config import load_config as load_config
from hal9.layer import Layer as Layer
from hal9.llm.mock import MockLLM as MockLLM
from hal9.runtime.llm import LLM as LLM
from hal9.runtime.llm import LLMResponse as LLMResponse
from hal9.runtime.llm import ToolResult as ToolResult
from hal9.runtime.llm import ToolSpec as ToolSpec
from hal9.runtime.llm import ToolUse as ToolUse
from hal9.runtime.llm import Turn as Turn
from hal9.runtime.memory import Memory as Memory
from hal9.runtime.memory import MemoryEntry as MemoryEntry
from hal9.runtime.memory import MemoryRecord as MemoryRecord
from hal9.runtime.neuron import Neuron as Neuron
from hal9.runtime.runtime import Runtime as Runtime
from hal9.runtime.service import Service as Service
from hal9.runtime.signal import Signal as Signal
from hal9.runtime.tools import ToolOutput as ToolOutput
from hal9.runtime.tools import Tools as Tools
from hal9.runtime.trace import BranchError as BranchError
from hal9.runtime.trace import Hop as Hop
from hal9.runtime.trace import TraceResult as TraceResult

if _typing.TYPE_CHECKING:
    from hal9.llm.claude import ClaudeService as ClaudeService

try:
    __version__ = _metadata.version("hal9")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "LLM",
    "BranchError",
    "ClaudeService",
    "Config",
    "Hop",
    "LLMResponse",
    "Layer",
    "Memory",
    "MemoryEntry",
    "MemoryRecord",
    "MockLLM",
    "Neuron",
    "Runtime",
    "Service",
    "Signal",
    "ToolOutput",
    "ToolResult",
    "ToolSpec",
    "ToolUse",
    "Tools",
    "TraceResult",
    "Turn",
    "__version__",
    "load_config",
]


def _publish(value: _typing.Any) -> None:
    """Show ``value`` under its public path (``hal9.Neuron``, not ``hal9.runtime.neuron.Neuron``), as anyio does."""
    if getattr(value, "__module__", "").startswith("hal9."):
        value.__module__ = __name__


for _name in __all__:
    if _name in globals():
        _publish(globals()[_name])


def __getattr__(name: str) -> _typing.Any:
    # The anthropic SDK takes over a second to import: only users of the real service pay it.
    if name == "ClaudeService":
        from hal9.llm.claude import ClaudeService

        _publish(ClaudeService)
        return ClaudeService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
