"""A runtime writes files only where it is given a data folder: a bare ``Runtime()`` leaves its folder as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hal9 import Config, Memory, Runtime
from hal9.config import DEFAULT_DATA_DIR
from hal9.memory import SQLiteMemory
from hal9.tools import ToolService


@pytest.mark.anyio
async def test_a_bare_runtime_writes_nothing_in_the_folder_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with Runtime() as rt:
        result = await rt.ask("Build a todo app")
        memory = rt.services.require(Memory)
        remembered = await memory.recent("implementation")
        memory_file = rt.services.require(SQLiteMemory).path
        workspace = rt.services.require(ToolService).root
        assert memory_file.exists()
        assert workspace.exists()

    assert result.ok
    assert remembered  # the memory worked, kept where nothing outlives the runtime
    assert os.listdir(tmp_path) == []
    assert not memory_file.parent.exists()
    assert not workspace.exists()


@pytest.mark.anyio
async def test_with_a_data_dir_the_memory_and_the_workspace_are_files_there(tmp_path: Path) -> None:
    async with Runtime(Config(data_dir=tmp_path / "data")) as rt:
        await rt.ask("Build a todo app")
        assert rt.services.require(ToolService).root == tmp_path / "data-workspace"
    async with Runtime(Config(data_dir=tmp_path / "data")) as rt:
        assert await rt.services.require(Memory).recent("implementation")
    assert (tmp_path / "data" / "hal9.db").exists()


def test_the_commands_default_data_folder_is_used_only_when_none_is_configured(tmp_path: Path) -> None:
    assert Config().data_dir is None
    assert Config().with_data_dir().data_dir == DEFAULT_DATA_DIR == Path("hal9-data")
    assert Config(data_dir=tmp_path).with_data_dir().data_dir == tmp_path


def test_auth_without_a_data_folder_is_refused_with_why() -> None:
    from hal9.auth import AuthService
    from hal9.errors import ConfigError

    with pytest.raises(ConfigError, match="auth keeps its users and API keys in data_dir"):
        AuthService.from_config(Config())
