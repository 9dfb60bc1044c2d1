"""`python -m hal9 check`, `init`, and `serve` with bad configuration: errors name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        pytest.param("[runtime]\nmailbox_capacit = 3\n", "runtime.mailbox_capacit", id="unknown-key"),
        pytest.param('[server]\nport = "x"\n', "server.port", id="bad-value"),
        pytest.param("[server]\nport = 70000\n", "server.port", id="out-of-range"),
        pytest.param(
            '[[neurons]]\nid = "a"\nlayer = "L4"\nkind = "strategic"\ndownstream = ["b"]\n',
            "neurons.0.downstream",
            id="dangling-downstream",
        ),
    ],
)
def test_check_rejects_a_bad_config_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    """`hal9 check` exits non-zero and prints the dotted key of what is wrong on stderr."""
    (tmp_path / "bad.toml").write_text(toml, encoding="utf-8")

    result = run_cli("check", "bad.toml", cwd=tmp_path)

    assert result.returncode != 0
    assert key in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_check_rejects_a_file_that_is_not_toml(tmp_path: Path) -> None:
    """`hal9 check` on broken TOML exits non-zero naming the file, without a traceback."""
    (tmp_path / "broken.toml").write_text("[server\nport = 1\n", encoding="utf-8")

    result = run_cli("check", "broken.toml", cwd=tmp_path)

    assert result.returncode != 0
    assert "broken.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_config_exits_non_zero_with_the_message(tmp_path: Path) -> None:
    """`hal9 serve` refuses to start on an unknown key, names it, and binds nothing."""
    (tmp_path / "bad.toml").write_text("[runtime]\nmailbox_capacit = 3\n", encoding="utf-8")

    result = run_cli("serve", "--port", "0", "--config", "bad.toml", cwd=tmp_path)

    assert result.returncode != 0
    assert "runtime.mailbox_capacit" in result.stderr
    assert "Traceback" not in result.stderr
    assert "server.listening" not in result.stdout


@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_bad_environment_override_is_rejected_naming_the_key(tmp_path: Path, command: str) -> None:
    """HAL9_RUNTIME__MAILBOX_CAPACITY=0 over a valid file is refused by check and serve, naming the key."""
    (tmp_path / "hal9.toml").write_text("", encoding="utf-8")
    args = ["check", "hal9.toml"] if command == "check" else ["serve", "--port", "0", "--config", "hal9.toml"]

    result = run_cli(*args, cwd=tmp_path, env={"HAL9_RUNTIME__MAILBOX_CAPACITY": "0"})

    assert result.returncode != 0
    assert "runtime.mailbox_capacity" in result.stderr
    assert "HAL9_" in result.stderr  # says the environment was involved
    assert "server.listening" not in result.stdout


def test_a_good_environment_override_is_applied(tmp_path: Path) -> None:
    """A valid HAL9_* override passes check (the same variable with a bad value fails it, as above)."""
    (tmp_path / "hal9.toml").write_text("", encoding="utf-8")

    result = run_cli("check", "hal9.toml", cwd=tmp_path, env={"HAL9_RUNTIME__MAILBOX_CAPACITY": "3"})

    assert result.returncode == 0, result.stderr


def test_init_writes_a_config_that_check_accepts_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """`hal9 init PATH` writes a valid file; a second init keeps it unless --force is given."""
    (tmp_path / "conf").mkdir()
    written = run_cli("init", "conf/hal9.toml", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    path = tmp_path / "conf" / "hal9.toml"
    assert path.is_file()

    checked = run_cli("check", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "ok (3 neurons" in checked.stdout

    path.write_text(path.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")
    again = run_cli("init", str(path), cwd=tmp_path)
    assert again.returncode != 0
    assert "--force" in again.stderr
    assert path.read_text(encoding="utf-8").endswith("# my edit\n")

    forced = run_cli("init", str(path), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "# my edit" not in path.read_text(encoding="utf-8")
    assert run_cli("check", str(path), cwd=tmp_path).returncode == 0


def test_init_into_a_missing_folder_fails_with_a_message(tmp_path: Path) -> None:
    """`hal9 init` into a folder that does not exist exits non-zero with a one-line error, not a traceback."""
    result = run_cli("init", "no/such/folder/hal9.toml", cwd=tmp_path)

    assert result.returncode != 0
    assert "no/such/folder/hal9.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_of_a_folder_or_an_empty_network_fails_with_a_message(tmp_path: Path) -> None:
    """A folder given as the config, and a network without neurons, are errors that say so, not tracebacks."""
    folder = run_cli("check", str(tmp_path), cwd=tmp_path)
    assert folder.returncode == 2
    assert "cannot read config file" in folder.stderr
    assert "Traceback" not in folder.stderr

    empty = tmp_path / "empty.toml"
    empty.write_text("neurons = []\n")
    no_neurons = run_cli("check", str(empty), cwd=tmp_path)
    assert no_neurons.returncode == 2
    assert "neurons:" in no_neurons.stderr
