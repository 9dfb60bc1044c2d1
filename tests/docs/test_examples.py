"""Every shell example of README.md and docs/getting-started.md runs as written, against a real server.

Per page, in an empty folder: the page's serve block starts ``hal9 serve`` (on a free port of
127.0.0.1, given as ``HAL9_SERVER__PORT``; the pages say 8080, which the test replaces), the key
its first start prints on standard error goes where the page exports it (``export API_KEY=hal9_...``),
and every block marked ``run`` runs in order in bash with ``set -eo pipefail``, with the environment
the blocks before it left. Each ``curl`` must answer 2xx (it runs with ``--fail-with-body``, and the
status of every transfer is checked), every other command must exit 0, and the server must then stop
on SIGINT with exit code 0. Blocks marked ``skip`` are reported as skipped tests, with their reason.
The suite's own virtualenv stands in for the one the pages create: it is linked into the folder as ``.venv``.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.docs.examples import KEY_EXPORT, PAGE_ADDRESSES, PAGES, ROOT, Example, examples, serve_command

pytestmark = pytest.mark.slow

#: How long the server may take to listen, a block to run, and the server to stop.
START_DEADLINE = 30.0
BLOCK_DEADLINE = 60.0
STOP_DEADLINE = 20.0
#: An API key as the server prints it: hal9_<public id>_<secret>.
PRINTED_KEY = re.compile(r"\bhal9_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
STATUS = re.compile(r"^HTTP-STATUS (\d{3}) (\S+)$", re.MULTILINE)
#: Runs before each block: variables are exported (so they carry over to the next block, as in one
#: terminal), a failing command fails the block, and curl fails on an HTTP error and reports each
#: transfer's status on stderr.
PRELUDE = """set -a -eo pipefail
curl() { command curl --fail-with-body --show-error -w '%{stderr}HTTP-STATUS %{http_code} %{url_effective}\\n' "$@"; }
"""


def require_curl() -> None:
    """The pages' examples use curl: a missing one fails under CI (as a missing promtool does) and skips elsewhere."""
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is not installed, and CI requires it")
        pytest.skip("curl is not installed")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_environment(home: Path) -> dict[str, str]:
    """The test's environment as a fresh shell would have it: no HAL9_* or Anthropic settings, no
    proxy, no virtualenv active (a block that needs one activates it, as the pages say)."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    dropped = ("HAL9_", "ANTHROPIC_", "VIRTUAL_ENV", "PYTEST_", "COV_")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(dropped) and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if entry and Path(entry).resolve() != venv_bin
    )
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"  # the server's log lines arrive as they are written
    return env


class Server:
    """The page's ``hal9 serve``, in the background; its output is drained by threads and kept."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(s,), daemon=True) for s in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def output(self) -> str:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)

    def wait_started(self, port: int) -> str:
        """The admin key of the first start, once the server listens on ``port``."""
        deadline = time.monotonic() + START_DEADLINE
        key, listening, closed = None, False, 0
        while key is None or not listening:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                pytest.fail(f"`{self.command}` did not start within {START_DEADLINE} s:\n{self.output()}")
            if line is None:
                closed += 1
                if closed == 2:
                    pytest.fail(f"`{self.command}` exited ({self.proc.wait()}):\n{self.output()}")
                continue
            self.lines.append(line)
            key = key or (found.group(0) if (found := PRINTED_KEY.search(line)) else None)
            listening = listening or f"127.0.0.1:{port}" in line
        return key

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join(timeout=STOP_DEADLINE)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


class Session:
    """One page's examples, run in order in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        (folder / "home").mkdir()
        (folder / ".venv").symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
        self.env = base_environment(folder / "home")
        self.server: Server | None = None
        self.key: str | None = None
        self.statuses: list[tuple[int, str]] = []

    def localize(self, example: Example) -> str:
        """The block with the test's port for the page's 8080, and the real key where the page exports it."""
        code = example.code
        for address in PAGE_ADDRESSES:
            code = code.replace(address, f"127.0.0.1:{self.port}")
        if KEY_EXPORT in code:
            assert self.key is not None, f"{example.where}: the key is exported before the server started"
            code = code.replace(KEY_EXPORT, f"export API_KEY={self.key}")
        # Only the test's own server is ever addressed.
        assert "localhost" not in code, f"{example.where}: an address other than localhost:8080"
        for url in re.findall(r"https?://[^\s'\"]+", code):
            assert url.startswith(f"http://127.0.0.1:{self.port}"), f"{example.where}: {url} is not the local server"
        return code

    def serve(self, example: Example) -> None:
        assert self.server is None, f"{example.where}: a second server"
        env = {**self.env, "HAL9_SERVER__PORT": str(self.port)}
        self.server = Server(serve_command(example), self.folder, env)
        self.key = self.server.wait_started(self.port)

    def run(self, example: Example) -> None:
        state = self.folder / ".example-env"
        script = f"{PRELUDE}{self.localize(example)}\nenv -0 > {state}\n"
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_DEADLINE,
            check=False,
        )
        server = self.server.output() if self.server else "(no server)"
        context = f"{example.where} failed ({done.returncode}):\n{example.code}\n--- stdout\n{done.stdout[-3000:]}"
        context += f"\n--- stderr\n{done.stderr[-3000:]}\n--- server\n{server[-3000:]}"
        assert done.returncode == 0, context
        statuses = [(int(code), url) for code, url in STATUS.findall(done.stderr)]
        assert all(200 <= code < 300 for code, _ in statuses), context
        if "curl " in example.code:
            assert statuses, f"{example.where}: no curl transfer reported its status"
        self.statuses.extend(statuses)
        pairs = state.read_text(encoding="utf-8").split("\0")
        self.env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)

    def close(self) -> int | None:
        return self.server.stop() if self.server else None


def runnable(page: Path) -> list[Example]:
    return [example for example in examples(page) if example.kind != "skip"]


def skipped() -> list[Example]:
    return [example for page in PAGES for example in examples(page) if example.kind == "skip"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_shell_example_runs_as_written(page: Path, tmp_path: Path) -> None:
    require_curl()
    blocks = runnable(page)
    assert [b.kind for b in blocks].count("serve") == 1, f"{page.name}: one serve block starts the server"
    session = Session(tmp_path)
    try:
        for example in blocks:
            if example.kind == "serve":
                session.serve(example)
            else:
                session.run(example)
    finally:
        exit_code = session.close()
    assert exit_code == 0, (
        f"the server did not stop cleanly on SIGINT:\n{session.server.output() if session.server else ''}"
    )
    assert session.statuses, "no request was made"
    if any("$API_KEY" in b.code for b in blocks):
        assert any(KEY_EXPORT in b.code for b in blocks), f"{page.name} uses $API_KEY but never exports it"


@pytest.mark.parametrize("example", skipped(), ids=lambda example: example.where)
def test_skipped_example(example: Example) -> None:
    """One skipped test per example that is not run, so the report names it and says why."""
    pytest.skip(f"{example.where}: {example.reason}")


def test_every_shell_block_is_marked() -> None:
    """A new shell block on either page must say whether it runs (examples() fails on one that does not)."""
    for page in PAGES:
        assert runnable(page), f"{page.name} has no runnable example"
