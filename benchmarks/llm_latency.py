"""The default network under a model's latency: one request, and a burst, against the critical path.

Run: ``python -m benchmarks.llm_latency [--latency 0.2] [--burst 20] [--runs 3] [--memory]``.

The default network (strategic L4 -> design L3 -> implementation L2) on the mock LLM with
``llm.mock.latency_seconds = L`` and ``llm.max_concurrency = 64``, so the LLM service's bound is
the one a real deployment would set. A request's critical path is three model calls, ``3L``: the
L4 call, then one L3 and one L2 call for each directive, the directives' branches in parallel.
The baseline is that critical path, measured in the same run as ``3L`` of bare ``anyio.sleep``
(what the calls cost with no runtime around them). It prints the median of ``--runs`` runs:

- ``critical_path_ratio``: one request alone, against the critical path;
- ``burst_ratio``: ``--burst`` requests submitted at once, the time until the last completes,
  against the critical path.

Memory is off unless ``--memory`` (then in a fresh temporary folder): this benchmark is about
the model's latency, ``benchmarks.memory_request`` and ``benchmarks.http`` about memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio

from benchmarks._common import median, quiet_logs
from hal9 import Config, Runtime
from hal9.config import LLMConfig, MockLLMConfig

#: Long enough to make a fan-out of three directives (the mock gives two to short requests).
PROMPT = "Build a rate limiter for the public HTTP API of the service"


def latency_config(latency: float, data_dir: Path | None) -> Config:
    services = {"llm": "hal9.llm:LLMService"}
    if data_dir is not None:
        services["memory"] = "hal9.memory:SQLiteMemory"
    # Unpriced: the mock keeps no spend ledger, so data_dir is used only by the memory service.
    llm = LLMConfig(mode="mock", max_concurrency=64, mock=MockLLMConfig(latency_seconds=latency, priced=False))
    return Config(llm=llm, services=services, data_dir=data_dir or Path("unused"))


async def critical_path(latency: float) -> float:
    """Three model calls one after another, with nothing around them."""
    started = time.perf_counter()
    for _ in range(3):
        await anyio.sleep(latency)
    return time.perf_counter() - started


async def one_run(latency: float, burst: int, memory: bool) -> tuple[float, float, float]:
    """Seconds for one request, for a burst, and the bare critical path, in one runtime."""
    with tempfile.TemporaryDirectory() as folder:
        runtime = Runtime(latency_config(latency, Path(folder) if memory else None))
        async with runtime:
            started = time.perf_counter()
            result = await runtime.ask(PROMPT)
            single = time.perf_counter() - started
            assert result.status == "completed", result.errors
            assert len(result.outputs) == 3, result.outputs

            started = time.perf_counter()
            requests = [await runtime.submit(f"{PROMPT} number {i}") for i in range(burst)]
            results = [await runtime.wait(request) for request in requests]
            together = time.perf_counter() - started
            assert all(r.status == "completed" for r in results)
        bare = await critical_path(latency)
    return single, together, bare


async def main(latency: float, burst: int, runs: int, memory: bool) -> None:
    quiet_logs()
    singles, bursts, bares = [], [], []
    for _ in range(runs):
        single, together, bare = await one_run(latency, burst, memory)
        singles.append(single)
        bursts.append(together)
        bares.append(bare)
    path = median(bares)
    print(f"latency={latency:g}s memory={'on' if memory else 'off'} runs={runs}")
    print(f"critical_path_s={path:.3f} (3 x latency, bare anyio.sleep)")
    print(f"one_request_s={median(singles):.3f} critical_path_ratio={median(singles) / path:.2f}")
    print(f"burst={burst} all_done_s={median(bursts):.3f} burst_ratio={median(bursts) / path:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="with the SQLite memory service")
    args = parser.parse_args()
    anyio.run(main, args.latency, args.burst, args.runs, args.memory)
