"""The cost of the cluster's shared budget per LLM call, against the in-memory budget of one server.

Called by ``benchmarks.network`` (same run). One LLM call holds its worst case against the budgets
and then settles its real cost; this measures exactly that pair of steps, nothing of a model:

* memory: :class:`~hal9.llm.budget.SpendTracker` (a server without a cluster): a check in memory.
* shared: :class:`~hal9.llm.shared_budget.SharedSpendTracker` against a nats-server with JetStream
  on 127.0.0.1: the reservation is a compare-and-set on the cluster's document, and the settlement
  another, waited for as the real Claude service waits for it (the mock's settles behind).

Latency: calls one after another, microseconds per call (median over the runs). Throughput:
``window`` calls in flight, calls per second; the shared tracker writes the reservations waiting
at the same time in one compare-and-set (group commit).
"""

from __future__ import annotations

import time

from benchmarks._common import median, run_window
from hal9.cluster import ClusterState
from hal9.config import BudgetConfig, Config
from hal9.llm.budget import SpendTracker
from hal9.llm.shared_budget import SharedSpendTracker

#: Limits no call of the benchmark reaches: every reservation is granted.
LIMITS = BudgetConfig(hour=1e9, day=1e9, month=1e9)


async def _calls(tracker: SpendTracker, count: int, window: int) -> float:
    """Seconds for ``count`` calls (hold, then record), ``window`` in flight."""

    async def one(i: int) -> None:
        async with tracker.hold(0.01) as reservation:
            await tracker.record("claude-haiku-4-5", 100, 50, 0.001, reservation)

    started = time.perf_counter()
    await run_window(one, count, window)
    return time.perf_counter() - started


async def _measure(url: str | None, calls: int, window: int) -> tuple[float, float]:
    """(seconds per call one at a time, calls per second with ``window`` in flight)."""
    if url is None:
        tracker = SpendTracker(LIMITS)
        await _calls(tracker, 100, 1)
        return await _calls(tracker, calls, 1) / calls, calls / await _calls(tracker, calls, window)
    config = Config.model_validate({"network": {"nats_url": url, "cluster": "bench"}})
    async with ClusterState(config.network, "bench") as state:
        shared = SharedSpendTracker(LIMITS, state, "real", hold_seconds=60)
        await shared.open()
        try:
            await _calls(shared, 100, 1)
            latency = await _calls(shared, calls, 1) / calls
            rate = calls / await _calls(shared, calls, window)
        finally:
            await shared.close()
    return latency, rate


async def shared_budget_figures(url: str, runs: int, calls: int = 1000, window: int = 32) -> None:
    """Print the shared budget's cost per call against the in-memory budget (needs JetStream at ``url``)."""
    latency: dict[bool, list[float]] = {False: [], True: []}
    rate: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs):
        for shared in (False, True):
            seconds, per_second = await _measure(url if shared else None, calls, window)
            latency[shared].append(seconds)
            rate[shared].append(per_second)
    print(f"# shared budget: {runs} runs; {calls} calls one at a time, then {calls} with {window} in flight")
    print(f"{'budget':>7} {'us/call':>9} {'calls/s':>9}")
    for shared in (False, True):
        name = "shared" if shared else "memory"
        print(f"{name:>7} {median(latency[shared]) * 1e6:>9.1f} {median(rate[shared]):>9.0f}")
    print(f"budget_reservation_ms_memory={median(latency[False]) * 1e3:.4f}")
    print(f"budget_reservation_ms_shared={median(latency[True]) * 1e3:.3f}")
    print(f"budget_reservation_ratio_shared_over_memory={median(latency[True]) / median(latency[False]):.0f}")
    print(f"budget_calls_per_second_shared_window{window}={median(rate[True]):.0f}")
