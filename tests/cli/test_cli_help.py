"""The --help texts say what a newcomer would otherwise learn from a refusal."""

from __future__ import annotations

import pytest

from hal9.cli import main


def help_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_users_create_states_the_password_length(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "users", "create")
    assert "at least auth.password_min_length characters (default 12" in text


@pytest.mark.parametrize("command", ["serve", "users", "keys"])
def test_commands_with_a_database_take_a_data_dir(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert "--data-dir" in help_text(capsys, command)


def test_the_top_level_help_says_where_the_data_folder_is(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys)
    assert "./hal9-data by default, relative to the folder the command runs in" in text
    assert "HAL9_DATA_DIR" in text
