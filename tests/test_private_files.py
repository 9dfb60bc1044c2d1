"""data_dir is private: created 0700, refused when others may write to it; hal9.db and its WAL files are 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hal9.auth import AuthService
from hal9.config import AuthConfig
from hal9.errors import ConfigError
from hal9.llm.ledger import SpendLedger
from hal9.memory.database import MemoryDatabase
from hal9.support.private_files import check_data_dir, prepare_database

pytestmark = pytest.mark.anyio

SIDE_FILES = ("hal9.db-wal", "hal9.db-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Umask 000, the worst case: any mode the code leaves to the umask would show up as world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_missing_data_dir_is_created_0700(tmp_path: Path, permissive_umask: None) -> None:
    check_data_dir(tmp_path / "data")
    assert mode(tmp_path / "data") == 0o700


@pytest.mark.parametrize(("loose", "writers"), [(0o770, "its group"), (0o707, "everyone"), (0o777, "everyone")])
def test_a_data_dir_others_can_write_to_is_refused(tmp_path: Path, loose: int, writers: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(loose)
    with pytest.raises(ConfigError, match=f"writable by {writers} .*chmod 700"):
        check_data_dir(data)
    with pytest.raises(ConfigError, match="writable by"):
        prepare_database(data / "hal9.db")  # every opener of hal9.db checks too
    assert not (data / "hal9.db").exists()


def test_a_data_dir_another_user_owns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    owner = data.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    with pytest.raises(ConfigError, match=f"owned by user id {owner}, not by the user HAL9 runs as"):
        check_data_dir(data)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    with pytest.raises(ConfigError, match="is not a folder"):
        check_data_dir(tmp_path / "data")


async def test_sqlite_makes_the_wal_files_as_private_as_the_database(tmp_path: Path, permissive_umask: None) -> None:
    """Even with umask 000, hal9.db and the -wal and -shm files SQLite creates itself are 0600."""
    data = tmp_path / "data"
    ledger = SpendLedger(data / "hal9.db")  # the runtime's sqlite3 Database (auth and ledger)
    await ledger.open()
    try:
        await ledger.add(1.0, "m", 1, 1, 0.5)
        memory = await MemoryDatabase.open(data / "hal9.db", "normal")  # the memory service's aiosqlite pair
        await memory.close()
        for name in ("hal9.db", *SIDE_FILES):
            assert mode(data / name) == 0o600, name
        assert mode(data) == 0o700
    finally:
        await ledger.close()


async def test_loose_database_files_are_tightened_at_open_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # readable by others is allowed (the files are not); writable is not
    for name in ("hal9.db", *SIDE_FILES):
        (data / name).touch()
        (data / name).chmod(0o644)
    with capture_logs() as logs:
        database = await MemoryDatabase.open(data / "hal9.db", "normal")
    try:  # the last close removes the WAL files
        for name in ("hal9.db", *SIDE_FILES):
            assert mode(data / name) == 0o600, name
    finally:
        await database.close()
    tightened = sorted(Path(e["path"]).name for e in logs if e["event"] == "data.file_mode_tightened")
    assert tightened == sorted(["hal9.db", *SIDE_FILES])
    assert {e["old_mode"] for e in logs if e["event"] == "data.file_mode_tightened"} == {"0644"}


def test_a_loose_file_that_cannot_be_changed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hal9.db"
    path.touch()
    path.chmod(0o640)

    def not_the_owner(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", not_the_owner)
    with pytest.raises(ConfigError, match=r"mode 0640 .* run 'chmod 600"):
        prepare_database(path)


async def test_the_auth_service_checks_the_folder_before_it_writes_a_signing_key_there(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    service = AuthService(data / "hal9.db", AuthConfig())
    with pytest.raises(ConfigError, match="writable by everyone"):
        async with service:
            pass
    assert list(data.iterdir()) == []  # no key, no database
