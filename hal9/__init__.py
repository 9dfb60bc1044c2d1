"""HAL9: a runtime for hierarchical networks of AI neurons.

The public API is re-exported here; everything else is internal.
"""

import typing as _typing

from hal9.config import Config, load_config
from hal9.errors import (
    BudgetExceeded,
    ConfigError,
    Hal9Error,
    LLMAuthError,
    LLMBadRequest,
    LLMBadResponse,
    LLMCircuitOpen,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    MailboxFull,
    NetworkUnavailable,
    NeuronNotFound,
    NeuronStopped,
    NoEntryNeuron,
    NotTransportable,
    PeerUnavailable,
    RemoteRejected,
    RuntimeNotRunning,
    ServiceUnavailable,
    ToolCallFailed,
    TopologyError,
    TraceNotFound,
)
from hal9.llm import MockLLM
from hal9.runtime.actor import Actor, ActorState
from hal9.runtime.layer import Layer
from hal9.runtime.llm import LLM, LLMResponse, ToolResult, ToolSpec, ToolUse, Turn
from hal9.runtime.memory import Memory, MemoryEntry, MemoryRecord
from hal9.runtime.neuron import Neuron
from hal9.runtime.runtime import Runtime
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.tools import ToolOutput, Tools
from hal9.runtime.trace import BranchError, Hop, TraceResult

if _typing.TYPE_CHECKING:
    from hal9.llm.claude import ClaudeService

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "Actor",
    "ActorState",
    "BranchError",
    "BudgetExceeded",
    "ClaudeService",
    "Config",
    "ConfigError",
    "Hal9Error",
    "Hop",
    "LLMAuthError",
    "LLMBadRequest",
    "LLMBadResponse",
    "LLMCircuitOpen",
    "LLMError",
    "LLMRateLimited",
    "LLMResponse",
    "LLMTimeout",
    "LLMUnavailable",
    "Layer",
    "MailboxFull",
    "Memory",
    "MemoryEntry",
    "MemoryRecord",
    "MockLLM",
    "NetworkUnavailable",
    "Neuron",
    "NeuronNotFound",
    "NeuronStopped",
    "NoEntryNeuron",
    "NotTransportable",
    "PeerUnavailable",
    "RemoteRejected",
    "Runtime",
    "RuntimeNotRunning",
    "Service",
    "ServiceUnavailable",
    "Signal",
    "ToolCallFailed",
    "ToolOutput",
    "ToolResult",
    "ToolSpec",
    "ToolUse",
    "Tools",
    "TopologyError",
    "TraceNotFound",
    "TraceResult",
    "Turn",
    "__version__",
    "load_config",
]


def __getattr__(name: str) -> _typing.Any:
    # The anthropic SDK takes over a second to import: only users of the real service pay it.
    if name == "ClaudeService":
        from hal9.llm.claude import ClaudeService

        return ClaudeService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
