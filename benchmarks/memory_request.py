"""What the memory service adds to a request: the default network with and without it, in one run.

Run: ``python -m benchmarks.memory_request [--requests 200] [--runs 3] [--prefill 0] [--synchronous full]``.

Each run sends ``--requests`` requests one after another (``Runtime.ask``) through the default
network (strategic L4 -> design L3 -> implementation L2, the mock LLM, which fans out into
2-3 directives) twice: without memory (the baseline) and with the SQLite memory service in a
fresh temporary folder, optionally prefilled with ``--prefill`` entries spread over the three
neurons (a memory that has been running a while). It prints the median request latency of
each, their ratio, and where the memory's time goes per request: the recall searches and the
stores, from the service's own duration histogram (``hal9_memory_operation_duration_seconds``),
with how many of each a request makes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from benchmarks._common import quiet_logs
from benchmarks.memory import corpus
from hal9 import Config, Runtime
from hal9.config import LLMConfig, MemoryConfig, MockLLMConfig
from hal9.memory import MemoryRecord, SQLiteMemory

PROMPTS = ("Build a rate limiter for the API", "Design a cache for user sessions", "Write a CSV import tool")
NEURONS = ("strategic", "design", "implementation")


def operation_totals(runtime: Runtime) -> dict[str, tuple[float, float]]:
    """Seconds spent and operations done, by memory operation, read from the runtime's registry."""
    registry = runtime.metrics.registry
    totals = {}
    for operation in ("search", "store"):
        labels = {"operation": operation}
        seconds = registry.get_sample_value("hal9_memory_operation_duration_seconds_sum", labels) or 0.0
        count = registry.get_sample_value("hal9_memory_operation_duration_seconds_count", labels) or 0.0
        totals[operation] = (seconds, count)
    return totals


async def run_requests(
    folder: Path | None, requests: int, prefill: int, synchronous: str
) -> tuple[list[float], dict[str, tuple[float, float]]]:
    """Latencies of ``requests`` sequential requests; with a folder, memory is on (prefilled)."""
    services: dict[str, object] = {}
    if folder is not None:
        memory = SQLiteMemory(folder / "hal9.db", MemoryConfig(synchronous=synchronous))  # type: ignore[arg-type]
        services["memory"] = memory
    # The mock unpriced: it keeps no spend ledger, so only the memory service uses data_dir.
    llm = LLMConfig(mock=MockLLMConfig(priced=False))
    config = Config(services={"llm": "hal9.llm:LLMService"}, data_dir=folder or Path("unused"), llm=llm)
    runtime = Runtime(config, services=services)  # type: ignore[arg-type]
    latencies: list[float] = []
    async with runtime:
        if folder is not None and prefill:
            texts = corpus(prefill, seed=5)
            records = [MemoryRecord(text, NEURONS[i % 3], "result") for i, text in enumerate(texts)]
            for start in range(0, prefill, 1_000):
                await memory.store_many(records[start : start + 1_000])
        await runtime.ask(PROMPTS[0])  # warm-up, not measured
        before = operation_totals(runtime)
        for i in range(requests):
            started = time.perf_counter()
            result = await runtime.ask(f"{PROMPTS[i % len(PROMPTS)]} (variant {i})")
            latencies.append(time.perf_counter() - started)
            assert result.ok, result
        after = operation_totals(runtime)
    spent = {op: (after[op][0] - before[op][0], after[op][1] - before[op][1]) for op in after}
    return latencies, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefill", type=int, default=0, help="entries stored before the measured requests")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    quiet_logs()
    bare, with_memory, search_ms, store_ms, searches, stores = [], [], [], [], [], []
    for run in range(args.runs):
        latencies, _ = anyio.run(run_requests, None, args.requests, 0, args.synchronous)
        bare.append(statistics.median(latencies))
        with tempfile.TemporaryDirectory(prefix=f"hal9-bench-{run}-") as tmp:
            latencies, spent = anyio.run(run_requests, Path(tmp), args.requests, args.prefill, args.synchronous)
        with_memory.append(statistics.median(latencies))
        search_ms.append(spent["search"][0] * 1000 / args.requests)
        store_ms.append(spent["store"][0] * 1000 / args.requests)
        searches.append(spent["search"][1] / args.requests)
        stores.append(spent["store"][1] / args.requests)
    ms = statistics.median
    print(f"{args.requests} sequential requests through the default network, medians of {args.runs} runs")
    print(f"  without memory: {ms(bare) * 1000:8.2f} ms a request")
    print(
        f"  with memory:    {ms(with_memory) * 1000:8.2f} ms a request"
        f"  (prefill {args.prefill} entries, synchronous={args.synchronous})"
    )
    print(
        f"    recall searches: {ms(search_ms):6.2f} ms a request ({ms(searches):.1f} searches,"
        f" {ms(search_ms) / max(ms(searches), 1e-9):.2f} ms each)"
    )
    print(
        f"    stores:          {ms(store_ms):6.2f} ms a request ({ms(stores):.1f} stores,"
        f" {ms(store_ms) / max(ms(stores), 1e-9):.2f} ms each)"
    )
    print(f"memory_ratio={ms(with_memory) / ms(bare):.1f}  (with / without)")


if __name__ == "__main__":
    main()
