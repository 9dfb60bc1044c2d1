"""A real ``python -m hal9 serve`` in a subprocess: start, wait for it to listen, scrape, stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.contract import CONTRACT

#: How long a server gets to log "server.listening".
START_DEADLINE = 20.0
#: Give ``HAL9_AUTH__ENABLED`` this value in a test's environment to leave auth to its config file.
AUTH_FROM_CONFIG = "from-config"
#: Auth on (the helpers turn it off unless told), with cheap password hashing.
AUTH_ON = {
    "HAL9_AUTH__ENABLED": "true",
    "HAL9_AUTH__PASSWORD_HASH_MEMORY_KIB": "1024",
    "HAL9_AUTH__PASSWORD_HASH_TIME_COST": "1",
    "HAL9_AUTH__PASSWORD_HASH_PARALLELISM": "1",
}
#: An API key as the server prints it.
KEY = re.compile(r"hal9_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
#: How long a server gets to exit after SIGTERM or SIGINT.
STOP_DEADLINE = 20.0


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any HAL9_* overrides of its own, JSON logs, auth off, plus ``extra``.

    Auth is off unless ``extra`` has ``HAL9_AUTH__ENABLED=true`` (or ``AUTH_FROM_CONFIG`` to let the
    config file decide): the servers bind to 127.0.0.1, where that is accepted.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAL9_")}
    env["HAL9_LOGGING__FORMAT"] = "json"
    env["HAL9_AUTH__ENABLED"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    if env["HAL9_AUTH__ENABLED"] == AUTH_FROM_CONFIG:
        del env["HAL9_AUTH__ENABLED"]
    return env


def run_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hal9 ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "hal9", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class ServerProcess:
    """One ``python -m hal9 serve --port 0`` subprocess.

    A reader thread keeps draining standard output (so the server never blocks on a full
    pipe) and parses each JSON log line; :meth:`wait_listening` returns once the line with
    event ``server.listening`` gave the port, or fails with what the server printed.
    """

    def __init__(self, cwd: Path, config: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self._stderr_path = cwd / f"server-{time.monotonic_ns()}.stderr"
        self._stderr: IO[bytes] = self._stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hal9", "serve", "--port", "0", "--config", str(config)],
            cwd=cwd,
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.port: int | None = None
        self._listening = threading.Event()
        self._new_line = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="hal9-server-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._new_line:
                self.events.append(event)
                self._new_line.notify_all()
            if event.get("event") == "server.listening":
                self.port = int(event["port"])
                self._listening.set()
        self._listening.set()  # end of output: the process is gone, stop waiting
        with self._new_line:
            self._ended = True
            self._new_line.notify_all()

    def wait_listening(self, timeout: float = START_DEADLINE) -> None:
        if not self._listening.wait(timeout) or self.port is None:
            raise AssertionError(f"server did not log server.listening within {timeout}s:\n{self.output()}")

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        assert self.port is not None
        return f"ws://127.0.0.1:{self.port}/ws"

    def stderr(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        return f"--- stdout\n{''.join(self.lines)}--- stderr\n{self.stderr()}"

    def wait_logged(self, event: str, timeout: float = START_DEADLINE) -> dict[str, Any]:
        """Block until the server logs ``event`` (or its output ends); returns the first such line."""
        with self._new_line:
            found = self._new_line.wait_for(lambda: bool(self.logged(event)) or self._ended, timeout=timeout)
            lines = self.logged(event)
        if not found or not lines:
            raise AssertionError(f"server did not log {event} within {timeout}s:\n{self.output()}")
        return lines[0]

    def logged(self, event: str) -> list[dict[str, Any]]:
        """The JSON log lines with this event name."""
        return [e for e in self.events if e.get("event") == event]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_DEADLINE) -> int:
        """Send ``signum`` and wait for the exit status (the output is complete afterwards)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = STOP_DEADLINE) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def kill(self) -> None:
        """Make sure the process is gone (teardown): kill it if it still runs, close everything."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_DEADLINE)
        self._reader.join(STOP_DEADLINE)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    # -- reading the server -----------------------------------------------------------

    def scrape(self) -> str:
        response = httpx.get(f"{self.url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text


StartServer = Callable[..., ServerProcess]


def samples(text: str) -> dict[str, list[Sample]]:
    """The samples of a scrape by family name (counters without ``_total``, as the parser names them)."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly these labels, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def poll_sample(
    client: httpx.AsyncClient,
    name: str,
    predicate: Callable[[float | None], bool],
    deadline: float = 10.0,
    **labels: str,
) -> str:
    """Scrape until ``predicate(value)`` holds; returns that scrape. For gauges the server changes on its own."""
    with anyio.fail_after(deadline):
        while True:
            response = await client.get("/metrics")
            response.raise_for_status()
            if predicate(value(response.text, name, **labels)):
                return response.text
            await anyio.sleep(0.02)


# -- the metrics contract -------------------------------------------------------------


class ContractRow:
    """One family of ``metrics-contract.tsv``."""

    def __init__(self, fields: dict[str, str], buckets: dict[str, tuple[float, ...]]) -> None:
        self.name = fields["name"]
        self.type = fields["type"]
        self.labels = frozenset() if fields["labels"] == "-" else frozenset(fields["labels"].split(","))
        self.values: dict[str, frozenset[str]] = {}
        if fields["values"] != "-":
            for spec in fields["values"].split(";"):
                label, _, allowed = spec.partition("=")
                self.values[label] = frozenset(allowed.split("|"))
        self.buckets = None if fields["buckets"] == "-" else buckets[fields["buckets"]]
        self.section = fields["section"]

    @property
    def parsed_name(self) -> str:
        """The family name prometheus_client's parser gives (counters lose ``_total``)."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name


def contract(*sections: str) -> list[ContractRow]:
    """The contract's rows of the given sections, with the bucket sets its header comment defines."""
    buckets: dict[str, tuple[float, ...]] = {}
    rows: list[ContractRow] = []
    header: list[str] | None = None
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        if line.startswith("# Bucket sets"):
            for spec in line.partition(":")[2].split(";"):
                name, _, bounds = spec.partition("=")
                buckets[name.strip()] = tuple(float(b) for b in bounds.split(","))
        elif line.startswith("#") or not line.strip():
            continue
        elif header is None:
            header = line.split("\t")
        else:
            row = ContractRow(dict(zip(header, line.split("\t"), strict=True)), buckets)
            if row.section in sections:
                rows.append(row)
    return rows
