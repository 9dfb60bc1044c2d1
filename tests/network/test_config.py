"""The [network] section and neuron placement in the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hal9 import Config, Runtime, Service
from hal9.config import load_config
from hal9.errors import TopologyError
from tests.network.support import neurons, two_server_config


def test_a_neuron_on_another_server_needs_a_nats_url() -> None:
    with pytest.raises(ValidationError, match=r"neurons.1.server: 'b' is another server, but network.nats_url"):
        Config.model_validate({"server_id": "a", "neurons": neurons()})


def test_the_nats_urls_come_from_the_environment() -> None:
    config = load_config(environ={"HAL9_NETWORK__NATS_URL": "nats://127.0.0.1:1, nats://127.0.0.1:2"})
    assert config.network.urls == ["nats://127.0.0.1:1", "nats://127.0.0.1:2"]
    assert config.service_paths["network"] == "hal9.network.service:NatsNetwork"


def test_without_a_nats_url_there_is_no_network_service() -> None:
    assert "network" not in load_config(environ={}).service_paths


def test_remote_neurons_without_a_transport_are_refused() -> None:
    """A service given in code replaces the configured network: placement elsewhere cannot work then."""
    with pytest.raises(TopologyError, match="placed on server 'b', but no network transport is configured"):
        Runtime(two_server_config("a", "nats://127.0.0.1:1"), services={"network": Service()})


def test_the_example_servers_take_ports_of_their_own_not_the_default_one() -> None:
    """Both example servers start beside a default `hal9 serve` (port 8080) and beside each other."""
    examples = Path(__file__).parents[2] / "examples" / "distributed"
    ports = [load_config(examples / f"server-{name}.toml", environ={}).server.port for name in ("a", "b")]
    assert len(set(ports)) == 2
    assert Config().server.port not in ports
    assert f"localhost:{ports[0]}/api/v1/signals" in (examples / "server-a.toml").read_text()
