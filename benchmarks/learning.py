"""What the learning service costs when no feedback arrives: requests through a chain, with and without it.

Run: ``python -m benchmarks.learning [--runs 5] [--requests 3000] [--window 16] [--chain 4]``.

Both runtimes are ``benchmarks._common.chain_runtime`` chains of ``Relay`` neurons; one also
has a :class:`~hal9.learning.LearningService`, which records each neuron's outcome of every
finished request (the work it does without feedback). Runs alternate the two, a fresh
runtime each; the output gives medians of microseconds per request and the last line
``learning_ratio=<with / without>``.
"""

from __future__ import annotations

import argparse
import gc
import time

import anyio

from benchmarks._common import chain_runtime, median, quiet_logs, run_window
from hal9.learning import LearningService


async def measure(chain: int, requests: int, window: int, *, learning: bool) -> float:
    """Seconds for ``requests`` requests through the chain."""
    rt = chain_runtime(chain, 64)
    if learning:
        rt.add_service("learning", LearningService())
    async with rt:

        async def one(i: int) -> None:
            await rt.wait(await rt.submit(i))

        await run_window(one, requests // 10, window)
        gc.collect()
        started = time.perf_counter()
        await run_window(one, requests, window)
        elapsed = time.perf_counter() - started
        if learning:
            service = rt.services["learning"]
            assert isinstance(service, LearningService)
            assert service.report("c0").outcomes > 0  # it did record outcomes
    return elapsed


async def main(runs: int, requests: int, window: int, chain: int) -> None:
    quiet_logs()
    timings: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs):
        for learning in (False, True):
            timings[learning].append(await measure(chain, requests, window, learning=learning) / requests * 1e6)
    without, with_ = median(timings[False]), median(timings[True])
    print(f"chain={chain} requests={requests} window={window} runs={runs}")
    print(f"without learning: {without:.1f} us/request (median)")
    print(f"with learning:    {with_:.1f} us/request (median)")
    print(f"learning_ratio={with_ / without:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--chain", type=int, default=4)
    args = parser.parse_args()
    anyio.run(main, args.runs, args.requests, args.window, args.chain)
