"""What a Prometheus scrape costs: exposition time by network size, and its effect on hop latency.

Run: ``python -m benchmarks.scrape [--renders 9] [--rounds 3] [--duration 4]``.

1. Exposition time: ``rt.metrics.render()`` (the text exposition bytes a scrape returns)
   for a running runtime of 100 and of 1,000 neurons, median of ``--renders`` renders
   after one warm-up render, with the size and the number of samples of the exposition.
   The network is a chain of 4 Relay neurons ``c0 -> c3`` that carries the traffic plus
   idle neurons (a Sink ``idle-root`` and the rest downstream of it), so every neuron
   has its full set of series (health, state, queue, processed, duration histogram,
   forwarded). Some requests have gone through before the renders.

2. Hop latency under scraping, with 1,000 neurons in the runtime: ``--window`` worker
   tasks submit requests continuously (closed loop: each sends the next request as soon
   as its previous one returns) for ``--duration`` seconds; each request's latency is
   ``submit`` to the end of ``wait``, through the 4-neuron chain (each request also
   visits the Sink entry, one trivial hop, in parallel). The two conditions alternate
   for ``--rounds`` rounds: without scraping, and with a scrape every ``--interval``
   seconds rendered as the server does it (``--mode loop``: ``await
   rt.metrics.render_async()``, on the event loop in pieces of about 100 neurons with a
   checkpoint between them) or, for comparison, in a worker thread (``--mode thread``:
   ``await anyio.to_thread.run_sync(rt.metrics.render)``, where the thread competes with
   the loop for the GIL). A scrape starts ``--interval`` seconds after the previous one
   ended, so a render slower than the interval makes the scrapes back to back. Reported:
   medians over the rounds of p50, p99, p99.9 and max, the scrapes completed during
   load with their render time (under load: compare it with the idle render time of
   part 1), and the ratios p99 with scrape / p99 without (and for p50).

Caveat: a closed loop issues fewer requests while the loop is slowed (coordinated
omission), so the tail it reports is a lower bound of what open-loop clients would see.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import anyio

from benchmarks._common import chain_runtime, median, quiet_logs, run_window
from hal9 import Runtime

CHAIN = 4
SIZES: tuple[int, ...] = (100, 1000)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def sample_count(exposition: bytes) -> int:
    return sum(1 for line in exposition.splitlines() if line and not line.startswith(b"#"))


async def warm(rt: Runtime, requests: int = 200) -> None:
    async def one(i: int) -> None:
        result = await rt.ask(i)
        assert result.ok, result

    await run_window(one, requests, 4)


def time_renders(rt: Runtime, renders: int) -> tuple[float, int, int]:
    """Median render seconds, sample count and bytes of the exposition."""
    exposition = rt.metrics.render()  # warm-up
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        exposition = rt.metrics.render()
        times.append(time.perf_counter() - started)
    return median(times), sample_count(exposition), len(exposition)


async def latency_round(
    rt: Runtime, duration: float, window: int, interval: float | None, in_thread: bool
) -> tuple[list[float], list[float]]:
    """Per-request latencies over ``duration`` seconds; with ``interval``, also the scrape render times."""
    latencies: list[float] = []
    renders: list[float] = []
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await rt.wait(await rt.submit(i))
            latencies.append(time.perf_counter() - started)
            i += 1

    async def scraper() -> None:
        while True:
            await anyio.sleep(interval)
            started = time.perf_counter()
            await (anyio.to_thread.run_sync(rt.metrics.render) if in_thread else rt.metrics.render_async())
            renders.append(time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        if interval is not None:
            tg.start_soon(scraper)
        async with anyio.create_task_group() as workers:
            for _ in range(window):
                workers.start_soon(worker)
        tg.cancel_scope.cancel()
    return latencies, renders


async def latency_test(rt: Runtime, args: argparse.Namespace) -> tuple[dict[str, dict[str, list[float]]], list[float]]:
    """Alternating rounds without and with scraping; per condition, the per-round statistics."""
    await anyio.to_thread.run_sync(rt.metrics.render)  # starts the worker thread
    stats: dict[str, dict[str, list[float]]] = {"no scrape": {}, "scrape": {}}
    scrape_renders: list[float] = []
    for _ in range(args.rounds):
        for condition, interval in (("no scrape", None), ("scrape", args.interval)):
            latencies, renders = await latency_round(rt, args.duration, args.window, interval, args.mode == "thread")
            scrape_renders.extend(renders)
            row = stats[condition]
            row.setdefault("requests", []).append(len(latencies))
            for name, q in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)):
                row.setdefault(name, []).append(percentile(latencies, q) * 1e6)
            row.setdefault("max", []).append(max(latencies) * 1e6)
    return stats, scrape_renders


async def benchmark(args: argparse.Namespace) -> None:
    print(
        f"# scrape: {args.renders} renders per size; latency: {args.rounds} rounds x {args.duration:g} s "
        f"per condition, window {args.window}, chain {CHAIN}, scrape every {args.interval:g} s, "
        f"rendered {'in a worker thread' if args.mode == 'thread' else 'on the event loop in pieces'}"
    )
    render_ms: dict[int, float] = {}
    for size in SIZES:
        built = time.perf_counter()
        rt = chain_runtime(CHAIN, 64, idle=size - CHAIN)
        build_s = time.perf_counter() - built
        async with rt:
            await warm(rt)
            seconds, samples, size_bytes = time_renders(rt, args.renders)
            render_ms[size] = seconds * 1e3
            print(
                f"exposition neurons={size:>5}: render median {seconds * 1e3:8.2f} ms, samples {samples:>6}, "
                f"{size_bytes / 1024:8.1f} KiB, {seconds / samples * 1e6:5.2f} us/sample "
                f"(runtime built in {build_s:.2f} s)"
            )
            if size == SIZES[-1]:
                print(
                    f"exposition ratio {SIZES[-1]}/{SIZES[0]} neurons: {render_ms[SIZES[-1]] / render_ms[SIZES[0]]:.2f}"
                )
                stats, scrape_renders = await latency_test(rt, args)
    print(f"latency with {SIZES[-1]} neurons, request through the {CHAIN}-neuron chain (us):")
    print(f"  {'condition':<10} {'requests':>9} {'p50':>8} {'p99':>9} {'p99.9':>9} {'max':>9} {'p99/hop':>8}")
    for condition, row in stats.items():
        p99 = median(row["p99"])
        print(
            f"  {condition:<10} {statistics.median(row['requests']):>9.0f} {median(row['p50']):>8.0f} {p99:>9.0f} "
            f"{median(row['p99.9']):>9.0f} {median(row['max']):>9.0f} {p99 / CHAIN:>8.0f}"
        )
    if scrape_renders:
        print(
            f"  scrapes during load: {len(scrape_renders)}, render ({args.mode}) median "
            f"{median(scrape_renders) * 1e3:.1f} ms (max {max(scrape_renders) * 1e3:.1f} ms)"
        )
    base, scraped = stats["no scrape"], stats["scrape"]
    print(f"p50_ratio={median(scraped['p50']) / median(base['p50']):.2f}")
    print(f"p99_ratio={median(scraped['p99']) / median(base['p99']):.2f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=9, help="timed renders per network size (median)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each latency condition (median)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per round and condition")
    parser.add_argument("--window", type=int, default=4, help="requests in flight during the latency test")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument(
        "--mode",
        choices=("loop", "thread"),
        default="loop",
        help="loop: rt.metrics.render_async(), as the server scrapes; thread: render() in a worker thread",
    )
    args = parser.parse_args(argv)
    if args.renders < 1 or args.rounds < 1 or args.duration <= 0 or args.window < 1 or args.interval <= 0:
        parser.error("all values must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    quiet_logs()
    anyio.run(benchmark, args)


if __name__ == "__main__":
    main()
