"""Configuration: a TOML file validated by pydantic, with ``HAL9_SECTION__KEY`` overrides.

Unknown keys are errors everywhere, so a typo never silently falls back to a default.
Errors are raised as :class:`~hal9.errors.ConfigError` with the dotted key in the message.
One module per section; everything is importable from here.
"""

from hal9.config.auth import AuthConfig
from hal9.config.learning import LearningConfig
from hal9.config.llm import (
    BUILTIN_PRICES,
    BudgetConfig,
    LayerModel,
    LLMConfig,
    MockLLMConfig,
    MockReply,
    MockToolUse,
    ModelPrice,
)
from hal9.config.loading import ENV_NESTING, ENV_PREFIX, env_overrides, load_config
from hal9.config.memory import MemoryConfig
from hal9.config.network import NETWORK_SERVICE, NetworkConfig
from hal9.config.root import DEFAULT_DATA_DIR, Config, default_neurons
from hal9.config.runtime import LoggingConfig, NeuronConfig, RuntimeConfig, ServerConfig
from hal9.config.section import Section
from hal9.config.tools import (
    BUILTIN_TOOLS,
    DEFAULT_MCP_COMMANDS,
    NEVER_ALLOWED_COMMANDS,
    ExternalToolServer,
    LayerTools,
    ToolsConfig,
)

__all__ = [
    "BUILTIN_PRICES",
    "BUILTIN_TOOLS",
    "DEFAULT_DATA_DIR",
    "DEFAULT_MCP_COMMANDS",
    "ENV_NESTING",
    "ENV_PREFIX",
    "NETWORK_SERVICE",
    "NEVER_ALLOWED_COMMANDS",
    "AuthConfig",
    "BudgetConfig",
    "Config",
    "ExternalToolServer",
    "LLMConfig",
    "LayerModel",
    "LayerTools",
    "LearningConfig",
    "LoggingConfig",
    "MemoryConfig",
    "MockLLMConfig",
    "MockReply",
    "MockToolUse",
    "ModelPrice",
    "NetworkConfig",
    "NeuronConfig",
    "RuntimeConfig",
    "Section",
    "ServerConfig",
    "ToolsConfig",
    "default_neurons",
    "env_overrides",
    "load_config",
]
