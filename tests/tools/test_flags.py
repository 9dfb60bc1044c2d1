"""Unconfined commands take only the flags on their command's allow list, parsed as GNU tools parse them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9.errors import SandboxViolation
from hal9.tools.flags import FlagRefused, check_flags
from hal9.tools.shell import ShellSandbox

#: What the argument checks once let through (glued short options, abbreviated long options), and kin.
REFUSED = [
    ("date", "-uf../secret"),
    ("date", "-u", "-f", "x"),
    ("date", "--file=x"),
    ("wc", "--files0=list"),
    ("wc", "--files0-f=list"),
    ("wc", "--files0-from=list"),
    ("grep", "--deref", "x", "."),
    ("grep", "-R", "x", "."),
    ("grep", "-rR", "x", "."),
    ("grep", "--include=*.py", "x"),
    ("grep", "-f", "patterns", "."),
    ("ls", "-L"),
    ("ls", "--dereference"),
    ("ls", "--al"),  # an abbreviation of --all: refused, full names only
    ("cat", "--number=3"),  # a value on a flag that takes none
    ("head", "-5", "f"),
    ("echo", "--help"),
    ("pwd", "-x"),
    ("cp", "-r", "a", "b"),  # a command with no list takes operands only
]

ALLOWED = [
    ("ls", "-la"),
    ("ls", "-1", "--all", "sub"),
    ("head", "-n5", "f"),
    ("head", "-n", "5", "f"),
    ("head", "--lines=5", "f"),
    ("head", "--lines", "5", "f"),
    ("grep", "-in", "-m", "3", "pattern", "f"),
    ("grep", "-rn", "--max-count=2", "x", "."),
    ("date", "-u", "+%Y"),
    ("echo", "-n", "hello", "--", "-x"),
    ("cat", "--", "-weird-file-name"),
    ("cp", "a", "b"),
]


@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_a_flag_off_the_list_is_refused_in_any_spelling(argv: tuple[str, ...]) -> None:
    with pytest.raises(FlagRefused):
        check_flags(argv[0], argv[1:])


@pytest.mark.parametrize("argv", ALLOWED, ids=" ".join)
def test_the_listed_flags_pass_glued_grouped_or_apart(argv: tuple[str, ...]) -> None:
    check_flags(argv[0], argv[1:])


def test_only_an_unconfined_sandbox_checks_flags_against_the_list(tmp_path: Path) -> None:
    unconfined = ShellSandbox(tmp_path, ["date", "ls"], timeout=5, max_output_bytes=100, landlock="off")
    with pytest.raises(SandboxViolation, match="does not take -f"):
        unconfined.check(["date", "-uffile"])
    assert unconfined.check(["ls", "-la"]).endswith("/ls")
    confined = ShellSandbox(tmp_path, ["date"], timeout=5, max_output_bytes=100, landlock="auto")
    assert confined.check(["date", "-u"]).endswith("/date")  # the kernel holds the boundary there
