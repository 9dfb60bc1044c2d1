"""The cost of the durable accept per request: SQLite on one server, JetStream in a cluster, against no store.

Called from :mod:`benchmarks.network` (same run, same nats-server). Each request is what the API
does for ``POST /api/v1/signals``: with a store, record it (:meth:`~hal9.requests.RequestLog.accept`,
durable on return), then ``submit``; then wait for its result (whose end is written behind).
The network is the two-neuron Relay chain, local, so the figure is the store's cost and little else.

* ``durable_accept_ms_<store>``: added milliseconds per request, one request at a time (median
  over the runs of the mean over ``latency_requests`` requests, minus the same without a store).
* ``durable_throughput_ratio_<store>``: requests per second with ``window`` in flight, over the
  same without a store: what the store costs a loaded server.
* ``sqlite_ungrouped``: the SQLite store with one transaction (one fsync) per accept instead of
  the group commit, at the same window: what the grouping buys.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import median, run_window
from hal9 import Config, Runtime
from hal9.requests import RequestLog, RequestRecord, request_log
from hal9.requests.sqlite import SQLiteRequests, _Batch, _row, _write
from hal9.runtime.signal import new_id
from hal9.server.signals import result_json

RELAY = "benchmarks._common:Relay"
STORES = ("none", "sqlite", "jetstream", "sqlite_ungrouped")


def _config(store: str, data_dir: Path, nats_url: str) -> Config:
    data: dict[str, Any] = {
        "server_id": "bench",
        "services": {},
        "data_dir": str(data_dir),
        "neurons": [
            {"id": "c0", "layer": "L3", "kind": RELAY, "downstream": ["c1"]},
            {"id": "c1", "layer": "L2", "kind": RELAY},
        ],
    }
    if store == "jetstream":
        data["network"] = {"nats_url": nats_url}
    return Config.model_validate(data)


class _Ungrouped:
    """A RequestLog's accept with one commit per request: the baseline the group commit is measured against."""

    def __init__(self, path: Path) -> None:
        self._store = SQLiteRequests(path, retention=86_400, max_rows=10_000_000)

    async def open(self) -> None:
        await self._store.open()

    async def accept(self, request_id: str) -> None:
        batch = _Batch(rows=[_row(RequestRecord(request_id, "accepted", "bench", "run", time.time()))])
        await self._store._db.call(lambda connection: _write(connection, batch))

    async def close(self) -> None:
        await self._store.close()


@asynccontextmanager
async def _requests(store: str, nats_url: str) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """One request as the API runs it with ``store``, inside a started runtime."""
    with tempfile.TemporaryDirectory(prefix="hal9-bench-") as folder:
        data_dir = Path(folder) / "data"
        config = _config(store, data_dir, nats_url)
        services = request_log(config, result_json) if store in ("sqlite", "jetstream") else {}
        async with Runtime(config, services=services) as runtime:
            log = runtime.services.get(RequestLog)
            ungrouped = None
            if store == "sqlite_ungrouped":
                ungrouped = _Ungrouped(data_dir / "hal9.db")
                await ungrouped.open()
            accept = log.accept if log is not None else ungrouped.accept if ungrouped is not None else None

            async def one(i: int) -> None:
                trace_id = new_id()
                if accept is not None:
                    await accept(trace_id)
                await runtime.submit(i, trace_id=trace_id)
                result = await runtime.wait(trace_id, timeout=30)
                assert result.ok, result.errors

            try:
                yield one
            finally:
                if ungrouped is not None:
                    await ungrouped.close()


async def _measure(store: str, nats_url: str, args: argparse.Namespace) -> tuple[float, float]:
    """(mean seconds per request one at a time, requests per second with ``window`` in flight)."""
    requests = max(args.requests // 4, 1)
    latency_requests = max(args.latency_requests // 2, 1)
    async with _requests(store, nats_url) as one:
        await run_window(one, args.warmup, args.window)
        started = time.perf_counter()
        await run_window(one, latency_requests, 1)
        latency = (time.perf_counter() - started) / latency_requests
        started = time.perf_counter()
        await run_window(one, requests, args.window)
        throughput = requests / (time.perf_counter() - started)
    return latency, throughput


async def durable_accept(args: argparse.Namespace, nats_url: str) -> None:
    """Measure and print the durable accept's figures (needs a nats-server with JetStream at ``nats_url``)."""
    latency: dict[str, list[float]] = {store: [] for store in STORES}
    rate: dict[str, list[float]] = {store: [] for store in STORES}
    for _ in range(args.runs):
        for store in STORES:
            seconds, per_second = await _measure(store, nats_url, args)
            latency[store].append(seconds)
            rate[store].append(per_second)
    print(
        f"# durable accept: {args.runs} runs; latency over {max(args.latency_requests // 2, 1)} sequential requests; "
        f"throughput over {max(args.requests // 4, 1)} requests, window {args.window}; "
        f"SQLite in {tempfile.gettempdir()} (synchronous=FULL)"
    )
    print(f"{'store':>16} {'us/request':>11} {'requests/s':>11}")
    for store in STORES:
        print(f"{store:>16} {median(latency[store]) * 1e6:>11.0f} {median(rate[store]):>11.0f}")
    base_latency, base_rate = median(latency["none"]), median(rate["none"])
    for store in ("sqlite", "jetstream"):
        print(f"durable_accept_ms_{store}={(median(latency[store]) - base_latency) * 1e3:.3f}")
    for store in ("sqlite", "jetstream", "sqlite_ungrouped"):
        print(f"durable_throughput_ratio_{store}={median(rate[store]) / base_rate:.3f}")
    print(f"group_commit_speedup_sqlite={median(rate['sqlite']) / median(rate['sqlite_ungrouped']):.2f}")
