"""file_read and file_write through the tool service: the path traversal corpus, limits, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hal9 import Layer
from hal9.tools import ToolService
from tests.tools.helpers import invocations, tool_service, violations

SECRET = "the secret outside the sandbox"
L2 = Layer.L2

#: Every way out: plain, absolute, Windows-style, encoded (once, twice, overlong), Unicode forms, NUL.
TRAVERSALS = [
    "../secret.txt",
    "..\\secret.txt",
    "sub/../../secret.txt",
    "./../secret.txt",
    "..//secret.txt",
    "sub/./../../secret.txt",
    "sub\\..\\..\\secret.txt",
    "sub/..\\../secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "\\etc\\passwd",
    "C:\\Windows\\win.ini",
    "c:/secret.txt",
    "~/secret.txt",
    "~root/.ssh/id_rsa",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    "%2E%2E%5Csecret.txt",
    "%252e%252e%252fsecret.txt",
    "%25252e%25252e/secret.txt",
    "%2fetc%2fpasswd",
    "%c0%ae%c0%ae/secret.txt",
    "%c0%ae%c0%ae%c0%afsecret.txt",
    "%e0%80%ae%e0%80%ae/secret.txt",
    "\uff0e\uff0e/secret.txt",
    "..\uff0fsecret.txt",
    "\uff0e\uff0e\uff0fsecret.txt",
    "notes.txt\x00.png",
    "sub/\x00/../secret.txt",
    "%00notes.txt",
    "escape/secret.txt",
    "sub/escape/secret.txt",
    "secret_link.txt",
    "inside_link.txt",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A sandbox with a file, a folder and symlinks (out of it, and one within), beside a secret."""
    (tmp_path / "secret.txt").write_text(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    sandbox = tmp_path / "root"
    (sandbox / "sub").mkdir(parents=True)
    (sandbox / "notes.txt").write_text("meeting at noon")
    (sandbox / "escape").symlink_to(outside)
    (sandbox / "sub" / "escape").symlink_to(outside)
    (sandbox / "secret_link.txt").symlink_to(tmp_path / "secret.txt")
    (sandbox / "inside_link.txt").symlink_to(sandbox / "notes.txt")
    return sandbox


@pytest.mark.anyio
@pytest.mark.parametrize("path", TRAVERSALS)
async def test_a_traversal_is_refused_logged_and_counted_by_file_read(root: Path, path: str) -> None:
    async with tool_service(root) as service:
        with capture_logs() as logs:
            output = await service.call("file_read", {"path": path}, layer=L2)
        assert output.is_error
        assert "path_traversal" in output.text
        assert SECRET not in output.text
        assert violations(service, "file_read", "path_traversal") == 1
        assert invocations(service, "file_read", "error") == 1
    warnings = [e for e in logs if e["event"] == "tools.violation"]
    assert [(w["log_level"], w["tool"], w["violation_type"]) for w in warnings] == [
        ("warning", "file_read", "path_traversal")
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("path", TRAVERSALS)
async def test_a_traversal_is_refused_and_counted_by_file_write_and_nothing_outside_changes(
    root: Path, path: str
) -> None:
    before = {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file() and not p.is_symlink()}
    async with tool_service(root) as service:
        output = await service.call("file_write", {"path": path, "content": "overwritten"}, layer=L2)
        assert output.is_error
        assert "path_traversal" in output.text
        assert violations(service, "file_write", "path_traversal") == 1
    after = {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before


@pytest.mark.anyio
async def test_a_file_written_is_read_back_and_folders_are_created(root: Path) -> None:
    async with tool_service(root) as service:
        written = await service.call("file_write", {"path": "a/b/c.txt", "content": "héllo"}, layer=L2)
        read = await service.call("file_read", {"path": "a/b/c.txt"}, layer=L2)
        plain = await service.call("file_read", {"path": "./notes.txt"}, layer=L2)
        assert invocations(service, "file_write", "success") == 1
        assert invocations(service, "file_read", "success") == 2
    assert not written.is_error
    assert "6 bytes" in written.text
    assert (read.text, read.is_error) == ("héllo", False)
    assert plain.text == "meeting at noon"
    assert (root / "a" / "b" / "c.txt").read_text() == "héllo"


@pytest.mark.anyio
async def test_a_write_replaces_atomically_and_leaves_no_temporary_file(root: Path) -> None:
    async with tool_service(root, max_write_bytes=20) as service:
        first = await service.call("file_write", {"path": "notes.txt", "content": "new notes"}, layer=L2)
        too_big = await service.call("file_write", {"path": "notes.txt", "content": "x" * 21}, layer=L2)
    assert not first.is_error
    assert too_big.is_error
    assert "over the limit" in too_big.text
    assert (root / "notes.txt").read_text() == "new notes"  # the refused write changed nothing
    assert sorted(os.listdir(root)) == ["escape", "inside_link.txt", "notes.txt", "secret_link.txt", "sub"]


@pytest.mark.anyio
async def test_reads_over_the_limit_missing_files_and_folders_are_errors_but_not_violations(root: Path) -> None:
    (root / "big.txt").write_text("x" * 101)
    async with tool_service(root, max_read_bytes=100) as service:
        big = await service.call("file_read", {"path": "big.txt"}, layer=L2)
        missing = await service.call("file_read", {"path": "nope/missing.txt"}, layer=L2)
        folder = await service.call("file_read", {"path": "sub"}, layer=L2)
        empty = await service.call("file_read", {"path": ""}, layer=L2)
        assert violations(service, "file_read", "path_traversal") == 0
        assert invocations(service, "file_read", "error") == 4
    assert "over the read limit" in big.text
    assert "no such file" in missing.text
    assert "is a folder" in folder.text or "not a regular file" in folder.text
    assert "empty" in empty.text


@pytest.mark.anyio
async def test_a_symlink_made_after_the_check_is_still_not_followed(root: Path) -> None:
    """The open walks the path with O_NOFOLLOW: swapping a folder for a symlink cannot redirect it."""
    async with tool_service(root) as service:
        (root / "swap").mkdir()
        (root / "swap" / "secret.txt").write_text("inside")
        assert (await service.call("file_read", {"path": "swap/secret.txt"}, layer=L2)).text == "inside"
        (root / "swap" / "secret.txt").unlink()
        (root / "swap").rmdir()
        (root / "swap").symlink_to(root.parent / "outside")
        output = await service.call("file_read", {"path": "swap/secret.txt"}, layer=L2)
    assert output.is_error
    assert "path_traversal" in output.text
    assert SECRET not in output.text


@pytest.mark.anyio
async def test_the_root_is_created_on_the_first_write(tmp_path: Path) -> None:
    root = tmp_path / "new-root"
    async with tool_service(root) as service:
        missing = await service.call("file_read", {"path": "x.txt"}, layer=L2)
        written = await service.call("file_write", {"path": "x.txt", "content": "x"}, layer=L2)
    assert missing.is_error
    assert not written.is_error
    assert (root / "x.txt").read_text() == "x"
    assert oct(os.stat(root / "x.txt").st_mode & 0o777) == "0o644"


def test_the_service_is_built_from_config_with_its_workspace_beside_data_dir(tmp_path: Path) -> None:
    from hal9 import Config

    service = ToolService.from_config(Config(data_dir=tmp_path / "data"))
    assert service.root == tmp_path / "data-workspace"
    assert service.permitted(Layer.L2) == ()  # no layer gets tools unless the config grants them
    assert service.permitted(Layer.L4) == ()
