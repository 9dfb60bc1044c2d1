"""HAL9: a runtime for hierarchical networks of AI neurons.

The public API is re-exported here; everything else is internal.
"""

from hal9.config import Config, load_config
from hal9.errors import (
    ConfigError,
    Hal9Error,
    LLMError,
    MailboxFull,
    NeuronNotFound,
    NeuronStopped,
    RuntimeNotRunning,
    ServiceUnavailable,
    TopologyError,
    TraceNotFound,
)
from hal9.llm import MockLLM
from hal9.runtime.actor import Actor, ActorState
from hal9.runtime.layer import Layer
from hal9.runtime.llm import LLM, LLMResponse
from hal9.runtime.memory import Memory, MemoryEntry, MemoryRecord
from hal9.runtime.neuron import Neuron
from hal9.runtime.runtime import Runtime
from hal9.runtime.service import Service
from hal9.runtime.signal import Signal
from hal9.runtime.trace import BranchError, Hop, TraceResult

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "Actor",
    "ActorState",
    "BranchError",
    "Config",
    "ConfigError",
    "Hal9Error",
    "Hop",
    "LLMError",
    "LLMResponse",
    "Layer",
    "MailboxFull",
    "Memory",
    "MemoryEntry",
    "MemoryRecord",
    "MockLLM",
    "Neuron",
    "NeuronNotFound",
    "NeuronStopped",
    "Runtime",
    "RuntimeNotRunning",
    "Service",
    "ServiceUnavailable",
    "Signal",
    "TopologyError",
    "TraceNotFound",
    "TraceResult",
    "__version__",
    "load_config",
]
