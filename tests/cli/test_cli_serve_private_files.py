"""A real server keeps data_dir private (0700, its files 0600) and refuses one that others can write to."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import AUTH_ON, StartServer, run_cli

pytestmark = pytest.mark.slow

#: Auth (the signing key) and memory (WAL writes), on the mock LLM.
CONFIG = 'data_dir = "data"\nservices = { llm = "hal9.llm:LLMService", memory = "hal9.memory:SQLiteMemory" }\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_the_server_creates_in_data_dir_is_private(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(CONFIG, env=AUTH_ON)
    data = tmp_path / "data"
    me = httpx.get(f"{server.url}/api/v1/auth/me", timeout=10)
    assert me.status_code == 401  # auth is on: the signing key and the auth tables exist
    # While the server runs the WAL files exist (the last connection's close removes them).
    files = {path.name: mode(path) for path in data.iterdir()}
    # The memory's search index is a folder of files beside the database, with its lock file.
    assert files == {
        **dict.fromkeys(("hal9.db", "hal9.db-wal", "hal9.db-shm", "hal9.db.index.lock", "auth-signing.key"), 0o600),
        "hal9.db.index": 0o700,
    }
    index_files = list((data / "hal9.db.index").iterdir())
    assert index_files
    assert {mode(path) for path in index_files} == {0o600}
    assert mode(data) == 0o700
    assert server.stop() == 0


def test_loose_files_from_an_older_version_are_tightened_at_start(start_server: StartServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    for name in ("hal9.db", "hal9.db-wal", "hal9.db-shm"):
        (data / name).touch()
        (data / name).chmod(0o644)
    server = start_server(CONFIG)
    assert {mode(data / name) for name in ("hal9.db", "hal9.db-wal", "hal9.db-shm")} == {0o600}
    warnings = server.logged("data.file_mode_tightened")
    assert {Path(w["path"]).name for w in warnings} == {"hal9.db", "hal9.db-wal", "hal9.db-shm"}
    assert all(w["level"] == "warning" and w["old_mode"] == "0644" for w in warnings)
    assert server.stop() == 0


@pytest.mark.parametrize("loose", [0o775, 0o757])
def test_a_data_dir_others_can_write_to_is_refused_at_start(tmp_path: Path, loose: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(loose)
    (tmp_path / "hal9.toml").write_text(CONFIG)
    result = run_cli("serve", "--config", "hal9.toml", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: data_dir: data is writable by" in result.stderr
    assert "chmod 700 data" in result.stderr
    assert "server.listening" not in result.stdout
    assert list(data.iterdir()) == []  # nothing was created there
