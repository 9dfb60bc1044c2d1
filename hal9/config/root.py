"""The whole configuration: every section, the neurons and the services to build."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from hal9.config.auth import AuthConfig
from hal9.config.learning import LearningConfig
from hal9.config.llm import LLMConfig
from hal9.config.memory import MemoryConfig
from hal9.config.network import CLUSTER_SERVICE, NETWORK_SERVICE, NetworkConfig
from hal9.config.runtime import LoggingConfig, NeuronConfig, RuntimeConfig, ServerConfig
from hal9.config.section import Section
from hal9.config.tools import ToolsConfig
from hal9.layer import Layer

#: The data folder of the commands (serve, mcp, users, keys) when the configuration names none.
DEFAULT_DATA_DIR = Path("hal9-data")


def _default_server_id() -> str:
    return socket.gethostname() or "hal9"


def default_neurons() -> tuple[NeuronConfig, ...]:
    """The built-in three-layer network: one neuron per layer; L4 fans out into 2-3 directives."""
    return (
        NeuronConfig(id="strategic", layer=Layer.L4, kind="strategic", downstream=("design",)),
        NeuronConfig(id="design", layer=Layer.L3, kind="design", downstream=("implementation",)),
        NeuronConfig(id="implementation", layer=Layer.L2, kind="implementation"),
    )


class Config(Section):
    """Everything a runtime needs; every field has a working default.

    Without a ``data_dir`` a runtime writes nothing: its memory and spend ledger live only as long
    as it runs, and its tools work in a temporary folder. ``hal9 serve`` (and the other commands)
    set ``data_dir`` to ``hal9-data`` when the configuration leaves it unset.
    """

    server_id: str = Field(default_factory=_default_server_id, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    data_dir: Path | None = Field(
        default=None,
        description="the folder of the database and the signing key; unset, nothing is written "
        "(memory lives only as long as the runtime) and the commands use hal9-data",
    )
    server: ServerConfig = ServerConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    neurons: tuple[NeuronConfig, ...] = Field(default_factory=default_neurons)
    services: dict[str, str] = Field(
        default_factory=lambda: {
            "llm": "hal9.llm:LLMService",
            "memory": "hal9.memory:SQLiteMemory",
            "tools": "hal9.tools:ToolService",
            "learning": "hal9.learning:LearningService",
        },
        description="service name -> 'package.module:Class' of a Service with from_config()",
    )
    llm: LLMConfig = LLMConfig()
    memory: MemoryConfig = MemoryConfig()
    logging: LoggingConfig = LoggingConfig()
    network: NetworkConfig = NetworkConfig()
    auth: AuthConfig = AuthConfig()
    learning: LearningConfig = LearningConfig()
    tools: ToolsConfig = ToolsConfig()

    def with_data_dir(self) -> Config:
        """This configuration with a data folder: its own, else ``hal9-data`` (what the commands run with)."""
        return self if self.data_dir is not None else self.model_copy(update={"data_dir": DEFAULT_DATA_DIR})

    @property
    def service_paths(self) -> dict[str, str]:
        """The services to build: ``services``, plus the network when ``network.nats_url`` is set.

        With shared state the cluster's state service comes first, so every other service can use
        it from its own start.
        """
        paths = dict(self.services)
        if self.network.nats_url and "network" not in paths:
            paths["network"] = NETWORK_SERVICE
        if self.network.shared and "cluster" not in paths:
            paths = {"cluster": CLUSTER_SERVICE, **paths}
        return paths

    @field_validator("neurons")
    @classmethod
    def _unique_ids(cls, neurons: tuple[NeuronConfig, ...]) -> tuple[NeuronConfig, ...]:
        seen: set[str] = set()
        for neuron in neurons:
            if neuron.id in seen:
                raise ValueError(f"duplicate neuron id {neuron.id!r}")
            seen.add(neuron.id)
        return neurons

    @model_validator(mode="after")
    def _known_downstream(self) -> Config:
        ids = {n.id for n in self.neurons}
        for index, neuron in enumerate(self.neurons):
            for target in neuron.downstream:
                if target not in ids:
                    raise ValueError(f"neurons.{index}.downstream: unknown neuron id {target!r}")
            if neuron.server not in (None, self.server_id) and not self.network.nats_url:
                raise ValueError(
                    f"neurons.{index}.server: {neuron.server!r} is another server, but network.nats_url is not set"
                )
        return self
