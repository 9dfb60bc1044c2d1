"""``data_dir`` and the SQLite database in it belong to the user the runtime runs as, and to no one else.

``hal9.db`` holds the password and key hashes, the sessions and every memory, so:

- ``data_dir`` is created with mode 0700. An existing one that another user owns, or that
  its group or everyone may write to, is refused (:func:`check_data_dir`): whoever can
  write there could swap the database or the signing key for their own. Only then are the
  path-based checks below safe (nobody else can replace a name between check and use).
- ``hal9.db`` is created by :func:`prepare_database` with mode 0600 before SQLite opens it
  (an empty file is an empty database). SQLite gives the ``-wal``, ``-shm`` and ``-journal``
  files it creates itself the mode of the database file (``os_unix.c`` stats the database
  and sets a new side file to the same mode with ``fchmod``), so they are 0600 from their
  first byte, whatever the process umask, with no window and no global state to change.
- A database file or side file with a looser mode (one made before this check existed) is
  tightened to 0600 when it is opened, with a warning (``data.file_mode_tightened``): the
  data was readable by others until then, which an operator should know.

The signing key is stricter: a key file others can read is refused, not tightened
(:func:`hal9.auth.tokens.load_signing_key`), since a key that may have been read must be
replaced rather than hidden.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

from hal9.errors import ConfigError

log = structlog.get_logger("hal9.data")

DIR_MODE = 0o700
FILE_MODE = 0o600
#: The files SQLite keeps beside a database (WAL mode uses the first two).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def check_data_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or check that an existing one is private enough.

    Raises:
        ConfigError: it cannot be created, is not a folder, another user owns it, or its group or
            others may write to it.
    """
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"data_dir: {path} is not a folder") from None
    except OSError as exc:
        raise ConfigError(f"data_dir: cannot create {path}: {exc.strerror or exc}") from None
    if os.name != "posix":
        return
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"data_dir: {path} is not a folder")
    user = os.geteuid()
    if info.st_uid != user:
        raise ConfigError(
            f"data_dir: {path} is owned by user id {info.st_uid}, not by the user HAL9 runs as ({user}); "
            "it holds the password hashes, API key hashes, sessions and memories: use a folder of your own"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        writers = "everyone" if info.st_mode & stat.S_IWOTH else "its group"
        raise ConfigError(
            f"data_dir: {path} is writable by {writers} (mode {stat.S_IMODE(info.st_mode):04o}), who could replace "
            f"the database or the signing key; run 'chmod 700 {path}' or choose another data_dir"
        )


def prepare_database(path: Path) -> None:
    """Make ``path`` ready for SQLite: its folder checked, the file there with mode 0600, side files tightened.

    Call it in a worker thread (it touches the disk) before every connect: the modules that
    share ``hal9.db`` (auth, the spend ledger, memory) each do.

    Raises:
        ConfigError: the folder is refused (:func:`check_data_dir`), or a file's mode cannot be tightened.
    """
    check_data_dir(path.parent)
    # Only when missing: closing a descriptor of a file drops every POSIX lock this process holds on it,
    # the locks of the SQLite connections already open on it included; another process closing its
    # connection would then take itself for the last one and delete the WAL under them.
    if not path.exists():
        # O_CREAT without O_EXCL: made with mode 0600 (the umask can only remove bits), else left as is.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
    for name in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        tighten(name)


def tighten(path: Path) -> None:
    """Set an existing file that its group or others may use to mode 0600, with a warning.

    Raises:
        ConfigError: the mode cannot be changed (another user owns the file).
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    try:
        path.chmod(FILE_MODE)
    except PermissionError:
        raise ConfigError(
            f"{path} has mode {mode:04o} (others may read it) and cannot be changed by this user; "
            f"run 'chmod 600 {path}' as its owner"
        ) from None
    log.warning("data.file_mode_tightened", path=str(path), old_mode=f"{mode:04o}", mode=f"{FILE_MODE:04o}")
