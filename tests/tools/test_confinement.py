"""The kernel holds the shell tool's boundary whatever a command's arguments: a hostile corpus run confined.

The argument checks of the shell tool are bypassed on purpose: each command goes straight to
the confining launcher, as if the checks had missed it. Listeners on 127.0.0.1 count what
reaches them; nothing else is ever addressed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hal9.tools.shell import LANDLOCK_SCRIPT, landlock_abi

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="this kernel has no Landlock")

SECRET = "the-server-secret-4711"


def confined(root: Path, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``program`` the way the shell tool runs an allowed command, confined to ``root``."""
    executable = shutil.which(program, path="/usr/bin:/bin")
    if executable is None:
        pytest.skip(f"{program} is not installed")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8", "TMPDIR": str(root)}
    return subprocess.run(
        [sys.executable, "-I", "-S", LANDLOCK_SCRIPT, str(root), "--", executable, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@contextmanager
def listeners() -> Iterator[tuple[int, int, list[socket.socket]]]:
    """A UDP and a TCP listener on 127.0.0.1: their ports, and the sockets to read what came."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(("127.0.0.1", 0))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp.setblocking(False)
        tcp.setblocking(False)
        yield udp.getsockname()[1], tcp.getsockname()[1], [udp, tcp]
    finally:
        udp.close()
        tcp.close()


def arrivals(udp: socket.socket, tcp: socket.socket) -> int:
    """Datagrams and connections that reached the listeners (read without waiting: the commands have exited)."""
    count = 0
    for receive in (lambda: udp.recv(65536), lambda: tcp.accept()[0].close()):
        while True:
            try:
                receive()
            except BlockingIOError:
                break
            count += 1
    return count


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "f.txt").write_text("hello\n")
    (folder / "s.sed").write_text("1e touch EXEC-sed-script\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    subprocess.run(["tar", "cf", str(folder / "a.tar"), "-C", str(folder), "f.txt"], check=True)
    return folder


def escapes(tmp_path: Path) -> list[str]:
    """Files a command made by running another program, or wrote outside the root."""
    made = [path.name for path in tmp_path.rglob("EXEC-*")]
    return made + [path.name for path in tmp_path.glob("outside*")]


#: Each runs another program, or writes outside the root, through the allowed program's own features.
EXEC_AND_WRITE_CORPUS = [
    ("sed", "s/.*/touch EXEC-sed-e/e", "f.txt"),
    ("sed", "1{e touch EXEC-sed-block\n}", "f.txt"),
    ("sed", "-f", "s.sed", "f.txt"),
    ("sed", "--fi=s.sed", "f.txt"),
    ("sed", "-n", "w ../outside-sed", "f.txt"),
    ("mawk", 'BEGIN { system("touch EXEC-awk-system") }'),
    ("mawk", 'BEGIN { "touch EXEC-awk-getline" | getline x }'),
    ("mawk", 'BEGIN { print "x" > "../outside-awk" }'),
    ("tar", "xf", "a.tar", "--to-command=touch EXEC-tar-to-command"),
    ("tar", "xf", "a.tar", "--to-comm=touch EXEC-tar-abbreviated"),
    ("tar", "--use-compress-prog=touch EXEC-tar-compress", "-xf", "a.tar"),
    ("tar", "xf", "a.tar", "--checkpoint=1", "--checkpoint-act=exec=touch EXEC-tar-checkpoint"),
    ("find", ".", "-name", "f.txt", "-exec", "touch", "EXEC-find", ";"),
    ("cp", "f.txt", "../outside-cp"),
]


@pytest.mark.parametrize("argv", EXEC_AND_WRITE_CORPUS, ids=lambda argv: " ".join(argv)[:60])
def test_no_program_but_the_allowed_one_runs_and_nothing_is_written_outside(
    tmp_path: Path, root: Path, argv: tuple[str, ...]
) -> None:
    result = confined(root, *argv)
    assert escapes(tmp_path) == [], result.stderr
    assert (root / "f.txt").read_text() == "hello\n"


def test_a_confined_command_still_does_its_own_work(root: Path) -> None:
    assert confined(root, "sed", "s/hello/bye/", "f.txt").stdout == "bye\n"
    assert confined(root, "sort", "f.txt").stdout == "hello\n"
    assert confined(root, "cp", "f.txt", "copy.txt").returncode == 0
    assert (root / "copy.txt").read_text() == "hello\n"


def test_nothing_outside_the_root_is_read_not_the_servers_environment(tmp_path: Path, root: Path) -> None:
    (tmp_path / "list").write_text(f"{tmp_path / 'secret.txt'}\0")
    for argv in (
        ("cat", "../secret.txt"),
        ("cat", f"/proc/{os.getpid()}/environ"),
        ("grep", "-r", "secret", ".."),
        ("mawk", "{ print }", str(tmp_path / "secret.txt")),
        ("sed", "-n", "r ../secret.txt", "f.txt"),
        # Glued short options and abbreviated long options that the argument checks once missed.
        ("date", "-uf../secret.txt"),
        ("date", f"-uf{tmp_path / 'secret.txt'}"),
        ("wc", "--files0=../list"),
        ("grep", "--deref", "secret", ".."),
    ):
        result = confined(root, *argv)
        assert SECRET not in result.stdout, argv
        assert "PATH=" not in result.stdout, argv


def test_no_packet_leaves_a_confined_command_udp_or_tcp(root: Path) -> None:
    python = os.path.realpath("/usr/bin/python3")
    if not os.path.exists(python):
        pytest.skip("the system's python3 is not installed")
    with listeners() as (udp_port, tcp_port, (udp, tcp)):
        send = (
            "import socket\n"
            "for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):\n"
            "    try:\n"
            "        s = socket.socket(socket.AF_INET, kind)\n"
            f"        s.connect(('127.0.0.1', {tcp_port} if kind == socket.SOCK_STREAM else {udp_port}))\n"
            "        s.send(b'out')\n"
            "        print('SENT')\n"
            "    except OSError as exc:\n"
            "        print('refused', exc)\n"
        )
        result = confined(root, python, "-I", "-c", send)
        git = confined(root, "git", "ls-remote", f"http://127.0.0.1:{tcp_port}/repo")
        assert arrivals(udp, tcp) == 0
    assert "SENT" not in result.stdout
    assert result.stdout.count("refused") == 2
    assert git.returncode != 0
