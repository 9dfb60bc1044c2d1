"""Building what a configuration names: services and neurons, resolved by import path.

The runtime imports no service or neuron implementation: a service is named by a
``package.module:Class`` path whose ``from_config()`` builds it, and a neuron kind is a
built-in name or such a path. Resolving them here keeps :mod:`hal9.runtime.runtime` about
running the network.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hal9.config import Config, NeuronConfig, RuntimeConfig
from hal9.errors import TopologyError
from hal9.runtime.neuron import Neuron
from hal9.runtime.service import Service

#: Built-in neuron kinds, resolved by import path so the runtime imports no implementation.
BUILTIN_NEURON_KINDS: Mapping[str, str] = {
    "strategic": "hal9.neurons:StrategicNeuron",
    "design": "hal9.neurons:DesignNeuron",
    "implementation": "hal9.neurons:ImplementationNeuron",
}


def resolve(path: str) -> Any:
    """Import ``package.module:Name``.

    Raises:
        TopologyError: the path is malformed or does not import.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise TopologyError(f"expected 'package.module:Name', got {path!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise TopologyError(f"cannot import {path!r}: {exc}") from exc


def build_service(path: str, config: Config) -> Service:
    """``from_config(config)`` of what ``path`` names: a Service class, or a factory choosing one."""
    from_config = getattr(resolve(path), "from_config", None)
    service = from_config(config) if callable(from_config) else None
    if not isinstance(service, Service):
        raise TopologyError(f"{path!r} is not a Service, nor has a from_config() that returns one")
    return service


def build_services(config: Config, given: Mapping[str, Service] | None = None) -> dict[str, Service]:
    """The services the config names (the network too when it is configured), ``given`` ones winning.

    A service given by name is not built from the config at all, so a test's double never
    costs the real one's construction.
    """
    given = given or {}
    built = {name: build_service(path, config) for name, path in config.service_paths.items() if name not in given}
    return {**built, **given}


def build_neuron(spec: NeuronConfig, settings: RuntimeConfig) -> Neuron:
    """The neuron a config entry describes (its kind resolved), with the runtime's mailbox and backoff."""
    try:
        cls = resolve(BUILTIN_NEURON_KINDS.get(spec.kind, spec.kind))
    except TopologyError as exc:
        raise TopologyError(f"neuron {spec.id!r}, kind: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Neuron)):
        raise TopologyError(f"neuron {spec.id!r}, kind: {spec.kind!r} is not a Neuron subclass")
    neuron: Neuron = cls(
        spec.id,
        layer=spec.layer,
        prompt=spec.prompt,
        mailbox_capacity=spec.mailbox_capacity or settings.mailbox_capacity,
        restart_backoff=(settings.restart_backoff_initial, settings.restart_backoff_max),
        concurrency=spec.concurrency,
    )
    return neuron
