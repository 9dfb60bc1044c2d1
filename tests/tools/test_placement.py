"""HAL9's data folder is never inside a tool root: serve refuses one around it, `hal9 mcp` keeps its data elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9 import Layer
from hal9.config import Config, LayerTools, ToolsConfig
from hal9.errors import ConfigError
from hal9.tools import ToolService
from hal9.tools.placement import data_dir_outside, state_folder


def test_a_tool_root_that_contains_the_data_folder_is_refused_naming_both(tmp_path: Path) -> None:
    data_dir = tmp_path / "project" / "hal9-data"
    with pytest.raises(ConfigError) as refused:
        ToolService.from_config(Config(data_dir=data_dir, tools=ToolsConfig(root=tmp_path / "project")))
    assert "tools.root" in str(refused.value)
    assert str(tmp_path / "project") in str(refused.value)
    assert str(data_dir) in str(refused.value)
    layer_root = ToolsConfig(layers={Layer.L2: LayerTools(tools=("shell",), commands=("ls",), root=tmp_path)})
    with pytest.raises(ConfigError, match=r"tools\.layers\.L2\.root"):
        ToolService.from_config(Config(data_dir=data_dir, tools=layer_root))
    with pytest.raises(ConfigError):  # the data folder itself as the root
        ToolService.from_config(Config(data_dir=data_dir, tools=ToolsConfig(root=data_dir)))


def test_a_tool_root_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "hal9-data"
    with pytest.raises(ConfigError, match="lies inside HAL9's data folder"):
        ToolService.from_config(Config(data_dir=data_dir, tools=ToolsConfig(root=data_dir / "workspace")))


def test_the_default_workspace_and_a_root_beside_the_data_folder_are_accepted(tmp_path: Path) -> None:
    data_dir = tmp_path / "hal9-data"
    assert ToolService.from_config(Config(data_dir=data_dir)).root == tmp_path / "hal9-data-workspace"
    beside = ToolService.from_config(Config(data_dir=data_dir, tools=ToolsConfig(root=tmp_path / "work")))
    assert beside.root == tmp_path / "work"


def test_hal9_mcp_moves_a_default_data_folder_out_of_the_folder_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    served = tmp_path / "project"
    assert state_folder() == tmp_path / "state" / "hal9"
    assert data_dir_outside(served, served / "hal9-data", chosen=False) == tmp_path / "state" / "hal9"
    assert data_dir_outside(served, tmp_path / "data", chosen=True) == tmp_path / "data"
    with pytest.raises(ConfigError) as refused:
        data_dir_outside(served, served / "my-data", chosen=True)
    assert str(served) in str(refused.value)
    assert str(served / "my-data") in str(refused.value)


def test_without_xdg_state_home_the_state_folder_is_under_home() -> None:
    assert state_folder({"HOME": "/home/someone"}) == Path("/home/someone/.local/state/hal9")
