"""Throughput and latency of ``POST /api/v1/signals`` on ``python -m hal9 serve`` against a bare FastAPI route.

Run: ``python -m benchmarks.http [--duration 10] [--connections 20] [--threads 2] [--runs 3] [--warmup 3]``
(needs wrk, the HTTP load generator: ``apt-get install wrk``). One run takes about
``3 x (warm-up + duration)`` seconds plus server start-ups.

Three targets, each a server in its own subprocess bound to a free port of 127.0.0.1:

* bare: ``python -m uvicorn benchmarks._bare_app:app``, a FastAPI route ``POST /api/v1/signals``
  that validates the body with a pydantic model shaped like HAL9's (``{"content": str, "wait":
  bool}``) and answers 200 with a small JSON. It runs with the uvicorn settings ``hal9 serve``
  uses: the asyncio event loop (serve runs uvicorn inside ``anyio.run``, never uvloop), the HTTP
  implementation uvicorn's ``auto`` picks in this environment (httptools if installed, else h11),
  no access log, lifespan off. This is the baseline: what any FastAPI JSON endpoint costs here.
* hal9 memory on: ``python -m hal9 serve`` with the default configuration (the three-neuron
  network strategic L4 -> design L3 -> implementation L2 and the default services llm, memory,
  tools and learning), except ``[auth] enabled = false``, no LLM budget limits, ``[llm] mode = "mock"`` (the
  deterministic mock LLM, never the paid API, whatever the environment holds) and ``data_dir``
  in a fresh temporary folder per run, so the SQLite memory starts empty. Inherited ``HAL9_*``
  variables are dropped so they cannot change the configuration.
* hal9 memory off: the same with ``services`` lacking ``"memory"``.

Each request is ``POST /api/v1/signals`` with ``{"content": "<sentence>", "wait": true}``, the
sentence taken in turn from a list of 100 different short requests ("Design a rate limiter for
the public API", ...; each wrk thread starts at a different place in the list), so no cache can
make repeated identical requests look faster than real traffic. For HAL9 ``wait: true`` means
the answer is the finished result of the whole network (200), or 504 after
``server.request_timeout`` (300 s), or 503 when the entry neuron's mailbox stays full.

Method: wrk with ``--threads`` threads and ``--connections`` keep-alive connections (a closed
loop: each connection sends its next request when the previous answer arrives), for
``--duration`` seconds, after an uncounted warm-up of ``--warmup`` seconds against the same
server process. wrk's socket timeout is raised to 60 s so slow answers are measured rather than
dropped. A Lua script builds the requests, counts the responses by status code and prints exact
percentiles of the latency. Each run starts a fresh server for every target, in the order bare,
hal9 memory on, hal9 memory off, and stops it (SIGINT, then kill) before the next starts, so the
two cores are never shared between servers.

Output: per target the median over ``--runs`` runs of requests/s, p50 and p99 latency, the total
of non-2xx responses and of socket errors over all runs (a loud warning follows when any
occurred), then ``http_ratio=<hal9 memory-on requests/s / bare requests/s>``,
``http_ratio_memory_off=<hal9 memory-off requests/s / bare requests/s>`` and
``p99_ms=<hal9 memory-on p99 latency>``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import median
from hal9 import Config

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/signals"
TARGETS: tuple[str, ...] = ("bare", "hal9 memory on", "hal9 memory off")

_ACTIONS = ("Design", "Build", "Review", "Document", "Test", "Refactor", "Plan", "Deploy", "Monitor", "Secure")
_SUBJECTS = (
    "a rate limiter for the public API",
    "a cache for user sessions",
    "a CSV import tool for the billing team",
    "the search index of the product catalogue",
    "a retry policy for payment webhooks",
    "the nightly backup of the orders database",
    "a feature flag service for the mobile app",
    "the login flow with two-factor codes",
    "a queue that resizes uploaded images",
    "the audit log of admin actions",
)
#: The 100 request texts, each a different short sentence.
SENTENCES: tuple[str, ...] = tuple(f"{action} {subject}" for action in _ACTIONS for subject in _SUBJECTS)

#: wrk script: requests cycle through BODIES; responses are counted by status; done() prints one
#: parseable line with exact latency percentiles (microseconds) and the counts.
LUA_TEMPLATE = """
local bodies = {
%(bodies)s
}
local counter = 0
statuses = {}
local threads = {}
local started = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("offset", started)
  started = started + 37
  table.insert(threads, thread)
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter %% #bodies) + 1])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local codes = {}
  for status, count in pairs(totals) do
    table.insert(codes, status .. ":" .. count)
  end
  table.sort(codes)
  local e = summary.errors
  io.write(string.format(
    "HAL9WRK requests=%%d duration_us=%%d p50_us=%%d p90_us=%%d p99_us=%%d max_us=%%d " ..
    "connect=%%d read=%%d write=%%d timeout=%%d statuses=%%s\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, table.concat(codes, ",")))
end
"""

_RESULT_LINE = re.compile(r"^HAL9WRK (.*)$", re.MULTILINE)


@dataclass
class Measurement:
    """One wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(folder: Path) -> Path:
    bodies = ",\n".join(f"  {lua_string(json.dumps({'content': s, 'wait': True}))}" for s in SENTENCES)
    script = folder / "signals.lua"
    script.write_text(LUA_TEMPLATE % {"bodies": bodies})
    return script


def parse_wrk(output: str) -> Measurement:
    match = _RESULT_LINE.search(output)
    if match is None:
        raise SystemExit(f"wrk printed no result line; its output was:\n{output}")
    values = dict(item.split("=", 1) for item in match.group(1).split())
    statuses = {}
    for pair in filter(None, values["statuses"].split(",")):
        status, count = pair.split(":")
        statuses[int(status)] = int(count)
    return Measurement(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1e3,
        p90_ms=int(values["p90_us"]) / 1e3,
        p99_ms=int(values["p99_us"]) / 1e3,
        max_ms=int(values["max_us"]) / 1e3,
        socket_errors=sum(int(values[k]) for k in ("connect", "read", "write", "timeout")),
        statuses=statuses,
    )


def run_wrk(wrk: str, script: Path, port: int, seconds: int, args: argparse.Namespace) -> Measurement:
    command = [
        wrk,
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--timeout=60s",
        "--latency",
        f"--script={script}",
        f"http://127.0.0.1:{port}{PATH}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    if args.verbose:
        print(done.stdout, end="")
    return parse_wrk(done.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_implementation() -> str:
    """What uvicorn's ``http="auto"`` (hal9 serve's setting) resolves to in this environment."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


def hal9_config(folder: Path, memory: bool) -> Path:
    """A config file for ``hal9 serve``: the defaults with auth off, the mock LLM and data_dir in ``folder``."""
    services = dict(Config.model_fields["services"].get_default(call_default_factory=True))
    if not memory:
        services.pop("memory", None)
    table = ", ".join(f"{name} = {json.dumps(path)}" for name, path in services.items())
    path = folder / "hal9.toml"
    path.write_text(
        f"data_dir = {json.dumps(str(folder / 'data'))}\n"
        f"services = {{ {table} }}\n"
        "\n[auth]\nenabled = false\n"
        '\n[llm]\nmode = "mock"\n'
        # The mock prices its calls as in the default; a run's thousands of requests must not meet a budget.
        "\n[llm.budget]\nhour = inf\nday = inf\nmonth = inf\n"
    )
    return path


def server_command(target: str, folder: Path, port: int) -> list[str]:
    if target == "bare":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks._bare_app:app",
            "--host=127.0.0.1",
            f"--port={port}",
            "--loop=asyncio",
            f"--http={http_implementation()}",
            "--no-access-log",
            "--lifespan=off",
            "--log-level=warning",
        ]
    config = hal9_config(folder, memory=target == "hal9 memory on")
    return [sys.executable, "-m", "hal9", "serve", f"--config={config}", "--host=127.0.0.1", f"--port={port}"]


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30.0) -> None:
    """Poll GET /health until it answers 200; give up when the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "did not answer in time"
            raise SystemExit(f"server {state}; its output:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (a graceful drain), then kill if it has not exited after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def server(target: str, verbose: bool) -> Iterator[int]:
    """The target's server in a subprocess on a free port of 127.0.0.1, with a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="hal9-http-bench-") as name:
        folder = Path(name)
        port = free_port()
        log = folder / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAL9_")}
        with log.open("wb") as output:
            proc = subprocess.Popen(
                server_command(target, folder, port),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the benchmark, which stops the server itself
            )
            try:
                wait_ready(proc, port, log)
                yield port
            finally:
                stop(proc)
        if verbose:
            print(f"# {target}: server exited with {proc.returncode}")


def benchmark(wrk: str, args: argparse.Namespace) -> dict[str, list[Measurement]]:
    results: dict[str, list[Measurement]] = {target: [] for target in TARGETS}
    with tempfile.TemporaryDirectory(prefix="hal9-http-wrk-") as name:
        script = write_script(Path(name))
        for run in range(args.runs):
            for target in TARGETS:
                with server(target, args.verbose) as port:
                    if args.warmup > 0:
                        run_wrk(wrk, script, port, args.warmup, args)
                    measured = run_wrk(wrk, script, port, args.duration, args)
                results[target].append(measured)
                if args.verbose:
                    print(
                        f"# run {run + 1}/{args.runs} {target}: {measured.rps:.1f} req/s, "
                        f"p50 {measured.p50_ms:.2f} ms, p99 {measured.p99_ms:.2f} ms, statuses {measured.statuses}, "
                        f"socket errors {measured.socket_errors}"
                    )
    return results


def report(results: dict[str, list[Measurement]], args: argparse.Namespace) -> None:
    print(
        f"# http: {args.runs} runs x {args.duration:g} s per target (warm-up {args.warmup:g} s), "
        f"wrk {args.threads} threads, {args.connections} connections, POST {PATH} wait=true, "
        f"{len(SENTENCES)} different contents; uvicorn loop=asyncio http={http_implementation()}; "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'target':<16} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>8} {'sock err':>8}   req/s per run")
    rps: dict[str, float] = {}
    warnings: list[str] = []
    for target in TARGETS:
        runs = results[target]
        rps[target] = median([m.rps for m in runs])
        non_2xx = sum(m.non_2xx for m in runs)
        socket_errors = sum(m.socket_errors for m in runs)
        per_run = " ".join(f"{m.rps:.1f}" for m in runs)
        p50 = median([m.p50_ms for m in runs])
        p99 = median([m.p99_ms for m in runs])
        print(f"{target:<16} {rps[target]:>9.1f} {p50:>9.2f} {p99:>9.2f} {non_2xx:>8} {socket_errors:>8}   {per_run}")
        if non_2xx or socket_errors:
            statuses: dict[int, int] = {}
            for m in runs:
                for status, count in m.statuses.items():
                    statuses[status] = statuses.get(status, 0) + count
            answered = sum(statuses.values())
            warnings.append(
                f"!!! {target}: {non_2xx} non-2xx responses of {answered} and {socket_errors} socket errors "
                f"over {len(runs)} runs; statuses: {dict(sorted(statuses.items()))}"
            )
    for line in warnings:
        print(line)
    if warnings:
        print("!!! ERRORS: some responses were not 2xx (or failed); the figures above include them")
    memory_on = results["hal9 memory on"]
    print(f"http_ratio={rps['hal9 memory on'] / rps['bare']:.4f}")
    print(f"http_ratio_memory_off={rps['hal9 memory off'] / rps['bare']:.4f}")
    print(f"p99_ms={median([m.p99_ms for m in memory_on]):.1f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per target and run")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted seconds of load first (0: none)")
    parser.add_argument("--connections", type=int, default=20, help="wrk keep-alive connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=3, help="measurements per target (median)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's own output and per-run figures")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.threads < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--runs, --threads and --duration (seconds) must be at least 1, --warmup not negative")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk gives each thread its own connections)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: apt-get install wrk (the HTTP load generator this benchmark drives)")
    report(benchmark(wrk, args), args)


if __name__ == "__main__":
    main()
