"""Configuration: defaults, TOML files, HAL9_* overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9 import Config, Layer, load_config
from hal9.config import env_overrides
from hal9.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hal9.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_keys(error: ConfigError) -> list[str]:
    """The dotted keys an error message names, one per line after the first."""
    return [line.strip().split(": ", 1)[0] for line in str(error).splitlines()[1:]]


def test_defaults_are_valid_and_describe_the_three_layer_network() -> None:
    config = load_config(environ={})
    assert config == Config(server_id=config.server_id)
    assert [(n.id, n.layer, n.downstream) for n in config.neurons] == [
        ("strategic", Layer.L4, ("design",)),
        ("design", Layer.L3, ("implementation",)),
        ("implementation", Layer.L2, ()),
    ]
    # The mock LLM without ANTHROPIC_API_KEY (issue 3), SQLite memory in data_dir (issue 4),
    # the MCP tools (issue 5) and learning (issue 7).
    assert config.services == {
        "llm": "hal9.llm:LLMService",
        "memory": "hal9.memory:SQLiteMemory",
        "tools": "hal9.tools:ToolService",
        "learning": "hal9.learning:LearningService",
    }
    assert config.llm.mode == "auto"
    assert config.runtime.mailbox_capacity > 0
    assert config.server.port == 8080


def test_toml_file_is_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
server_id = "edge-1"

[server]
port = 9100

[runtime]
mailbox_capacity = 8
send_timeout = 0.5

[llm.mock]
model = "mock-small"

[[llm.mock.replies]]
layer = "L2"
trigger = "hello"
reply = "hi"

[[neurons]]
id = "planner"
layer = "L4"
kind = "strategic"
downstream = ["doer"]

[[neurons]]
id = "doer"
layer = "L2"
kind = "implementation"
mailbox_capacity = 2
""",
    )
    config = load_config(path, environ={})
    assert config.server_id == "edge-1"
    assert config.server.port == 9100
    assert config.server.host == "127.0.0.1"  # untouched keys keep their defaults
    assert (config.runtime.mailbox_capacity, config.runtime.send_timeout) == (8, 0.5)
    assert config.llm.mock.model == "mock-small"
    (reply,) = config.llm.mock.replies
    assert (reply.layer, reply.trigger, reply.reply) == (Layer.L2, "hello", "hi")
    assert [(n.id, n.downstream, n.mailbox_capacity) for n in config.neurons] == [
        ("planner", ("doer",), None),
        ("doer", (), 2),
    ]


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("bogus = 1", "bogus"),
        ("[server]\nbogus = 1", "server.bogus"),
        ("[runtime]\nmailbox_capcity = 1", "runtime.mailbox_capcity"),
        ("[llm.mock]\nbogus = 1", "llm.mock.bogus"),
        ('[[llm.mock.replies]]\nreply = "x"\nbogus = 1', "llm.mock.replies.0.bogus"),
        ('[[neurons]]\nid = "a"\nlayer = "L2"\nkind = "implementation"\nbogus = 1', "neurons.0.bogus"),
        ('[logging]\nlevle = "info"', "logging.levle"),
    ],
)
def test_unknown_key_anywhere_is_an_error_naming_the_dotted_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), environ={})
    assert error_keys(error.value) == [key]
    assert "Extra inputs are not permitted" in str(error.value)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[server]\nport = 70000", "server.port"),
        ('[server]\nport = "eighty"', "server.port"),
        ("[runtime]\nmailbox_capacity = 0", "runtime.mailbox_capacity"),
        ('[logging]\nlevel = "loud"', "logging.level"),
        ('[[neurons]]\nid = "a"\nlayer = "L0"\nkind = "implementation"', "neurons.0.layer"),
        ('[[neurons]]\nid = "has space"\nlayer = "L2"\nkind = "implementation"', "neurons.0.id"),
    ],
)
def test_bad_value_is_an_error_naming_its_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), environ={})
    assert error_keys(error.value) == [key]
    assert str(write(tmp_path, toml)) in str(error.value)


def test_environment_overrides_nested_and_top_level_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\nport = 8000\n')
    environ = {
        "HAL9_SERVER__PORT": "9000",
        "HAL9_RUNTIME__SEND_TIMEOUT": "0.25",
        "HAL9_SERVER_ID": "from-env",
        "HAL9_LLM__MOCK__MODEL": "env-model",
        "PATH": "/usr/bin",  # not ours: ignored
    }
    config = load_config(path, environ=environ)
    assert config.server.port == 9000
    assert config.server.host == "0.0.0.0"  # the file's other keys survive the override
    assert config.runtime.send_timeout == 0.25
    assert config.server_id == "from-env"
    assert config.llm.mock.model == "env-model"


def test_environment_override_with_a_bad_value_names_its_key_and_origin() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={"HAL9_SERVER__PORT": "not-a-port"})
    assert error_keys(error.value) == ["server.port"]
    assert "HAL9_* environment" in str(error.value)


def test_environment_override_of_an_unknown_key_names_it() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={"HAL9_SERVER__PROT": "9000"})
    assert error_keys(error.value) == ["server.prot"]


@pytest.mark.parametrize("name", ["HAL9_SERVER____PORT", "HAL9_SERVER__", "HAL9___PORT"])
def test_malformed_environment_override_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="malformed"):
        load_config(environ={name: "1"})


@pytest.mark.parametrize(
    "environ",
    [
        {"HAL9_SERVER__PORT": "2", "HAL9_SERVER__PORT__X": "1"},
        {"HAL9_SERVER__PORT__X": "1", "HAL9_SERVER__PORT": "2"},  # whatever the variables' order
    ],
)
def test_conflicting_environment_overrides_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="conflicts"):
        load_config(environ=environ)


def test_env_overrides_builds_a_nested_mapping_of_strings() -> None:
    assert env_overrides({"HAL9_A__B__C": "1", "HAL9_A__D": "x", "OTHER": "y"}) == {"a": {"b": {"c": "1"}, "d": "x"}}


def test_duplicate_neuron_ids_are_refused(tmp_path: Path) -> None:
    neuron = '[[neurons]]\nid = "a"\nlayer = "L2"\nkind = "design"\n'
    toml = neuron + neuron
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), environ={})
    assert error_keys(error.value) == ["neurons"]
    assert "duplicate neuron id 'a'" in str(error.value)


def test_unknown_downstream_id_is_refused_naming_the_neuron_entry(tmp_path: Path) -> None:
    toml = '[[neurons]]\nid = "a"\nlayer = "L3"\nkind = "design"\ndownstream = ["ghost"]'
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), environ={})
    assert "neurons.0.downstream: unknown neuron id 'ghost'" in str(error.value)


def test_missing_file_and_invalid_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\nport = 1"), environ={})


def test_forwarded_allow_ips_are_addresses_or_networks_from_the_file_or_the_environment(tmp_path: Path) -> None:
    assert Config().server.forwarded_allow_ips == ()  # no proxy is trusted by default
    path = write(tmp_path, '[server]\nforwarded_allow_ips = ["127.0.0.1", "::1", "127.0.0.0/8"]\n')
    assert load_config(path, environ={}).server.forwarded_allow_ips == ("127.0.0.1", "::1", "127.0.0.0/8")
    from_env = load_config(environ={"HAL9_SERVER__FORWARDED_ALLOW_IPS": "127.0.0.1, ::1"})
    assert from_env.server.forwarded_allow_ips == ("127.0.0.1", "::1")
    for bad in ('["*"]', '["proxy.internal"]', '["127.0.0.1/40"]'):
        with pytest.raises(ConfigError) as error:
            load_config(write(tmp_path, f"[server]\nforwarded_allow_ips = {bad}\n"), environ={})
        assert error_keys(error.value) == ["server.forwarded_allow_ips"]
