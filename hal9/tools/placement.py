"""Where HAL9's data folder may be with respect to a tool root: apart, neither inside the other.

The data folder holds the database (password and key hashes, sessions, every memory) and the
JWT signing key. A tool root that contains it puts those files within reach of every command
and file tool of that root: a recursive ``grep`` walks into it, and the kernel's confinement
allows the whole root. A root inside it keeps tools' files among the server's own, one
misplaced ``..`` or symlink from them. So the default workspace is a sibling of the data
folder, ``<data_dir>-workspace``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from hal9.errors import ConfigError

#: Where ``hal9 mcp`` keeps its data when the folder it serves would hold it: the XDG state folder.
STATE_FOLDER = "hal9"


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved, symlinks followed)."""
    real, container = os.path.realpath(path), os.path.realpath(folder)
    return real == container or real.startswith(container.rstrip(os.sep) + os.sep)


def default_workspace(data_dir: Path) -> Path:
    """The tool root when the configuration names none: ``<data_dir>-workspace``, beside the data folder."""
    folder = Path(os.path.abspath(data_dir))
    return folder.with_name(f"{folder.name}-workspace")


def refuse_roots_around(data_dir: Path, roots: Mapping[str, Path]) -> None:
    """Refuse a tool root that contains the data folder, or lies inside it.

    Args:
        data_dir: HAL9's data folder.
        roots: the tool roots by what names them in the configuration (``tools.root``, ``tools.layers.L2.root``).

    Raises:
        ConfigError: naming the setting, the root and the data folder.
    """
    for setting, root in roots.items():
        if inside(data_dir, root):
            raise ConfigError(
                f"{setting} = {str(root)!r} contains HAL9's data folder {str(Path(data_dir).resolve())!r}, "
                "whose database and signing key every command of that root could then read: "
                "choose a root that does not contain it, or move data_dir out of it"
            )
        if inside(root, data_dir):
            raise ConfigError(
                f"{setting} = {str(root)!r} lies inside HAL9's data folder {str(Path(data_dir).resolve())!r}: "
                "keep the tools' files apart from the server's own (the default is beside it, "
                f"{str(default_workspace(data_dir))!r})"
            )


def state_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_STATE_HOME/hal9``, else ``~/.local/state/hal9`` (the XDG base directory default)."""
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", str(Path.home()))) / ".local" / "state")
    return Path(base) / STATE_FOLDER


def data_dir_outside(root: Path, data_dir: Path, *, chosen: bool, candidates: Iterable[Path] = ()) -> Path:
    """The data folder ``hal9 mcp`` serving ``root`` uses: ``data_dir``, unless ``root`` would hold it.

    A data folder the configuration did not choose moves to the XDG state folder (or the
    first of ``candidates``); one it chose is refused.

    Raises:
        ConfigError: the configured data folder lies inside the served root.
    """
    if not inside(data_dir, root):
        return data_dir
    if chosen:
        raise ConfigError(
            f"`hal9 mcp` serves {str(Path(root).resolve())!r}, which contains its data folder "
            f"{str(Path(data_dir).resolve())!r} (the database and the signing key): set data_dir (or HAL9_DATA_DIR) "
            "to a folder outside it, or serve another folder (tools.mcp.root)"
        )
    for candidate in (*candidates, state_folder()):
        if not inside(candidate, root):
            return candidate
    raise ConfigError(f"no data folder outside {str(Path(root).resolve())!r}: set data_dir (or HAL9_DATA_DIR)")
