"""Per-hop cost of an instrumented neuron chain against a bare anyio memory-stream pipeline.

Run: ``python -m benchmarks.runtime_hop [--runs 5] [--requests 5000] [--window 16]``.

What is compared, for chains of 1, 4 and 16 stages:

* runtime: ``hal9.Runtime`` with N ``Relay`` neurons (``process()`` returns
  ``signal.content``) connected ``c0 -> c1 -> ... -> cN-1``. Each hop pays everything the
  runtime adds: Signal creation, the mailbox and its semaphores, the processed counter,
  the duration histogram, state updates, the current-signal context variable, the
  forwarded counter and the trace bookkeeping (hop record, pending count, outputs).
* bare: N anyio tasks, each reading its own bounded memory object stream of the same
  capacity (``runtime.mailbox_capacity``, 64) and ``await send()``-ing the item to the
  next stream; the last task sets the item, an ``anyio.Event``, to signal completion.
  This is what one would write by hand without the runtime.

Method: both are driven the same way, by ``--window`` worker tasks that each loop
"send one request, wait for its completion" until ``--requests`` requests have been
served, so at most ``window`` requests are in flight and no mailbox ever fills (the
window is below the capacity; backpressure is not what is measured). For the runtime a
request is ``await rt.wait(await rt.submit(x))``; for the bare pipeline it is
``await first.send(event); await event.wait()``. A warm-up of ``--warmup`` requests runs
first, in the same runtime or pipeline, untimed. The timed part gives
``per-hop us = elapsed / (requests * chain length)``; the per-request cost (submit,
trace, wait) is spread over the hops, so the 16-stage chain is the closest to a pure hop
cost and is the one the ratio is taken from.

Each run measures every (chain, implementation) pair once, bare and runtime alternating
so that drift (thermal, other processes) hits both alike; a fresh runtime and a fresh
pipeline are built for every measurement. The output gives the median over the runs.
The last line is ``hop_ratio=<runtime us per hop / bare us per hop for the 16 chain>``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from benchmarks._common import chain_runtime, median, quiet_logs, run_window

CHAINS: tuple[int, ...] = (1, 4, 16)


async def measure_runtime(length: int, capacity: int, requests: int, window: int, warmup: int) -> float:
    """Seconds for ``requests`` requests through a runtime chain of ``length`` neurons."""
    rt = chain_runtime(length, capacity)
    async with rt:

        async def one(i: int) -> None:
            await rt.wait(await rt.submit(i))

        await run_window(one, warmup, window)
        gc.collect()
        started = time.perf_counter()
        await run_window(one, requests, window)
        elapsed = time.perf_counter() - started
        result = await rt.ask("check")
        assert result.ok, result
        assert result.outputs == ("check",), result
    return elapsed


async def measure_bare(
    length: int, capacity: int, requests: int, window: int, warmup: int, *, nowait: bool = False
) -> float:
    """Seconds for ``requests`` requests through ``length`` tasks joined by memory object streams."""
    streams = [anyio.create_memory_object_stream[anyio.Event](capacity) for _ in range(length)]
    sends: list[MemoryObjectSendStream[anyio.Event]] = [s for s, _ in streams]
    receives: list[MemoryObjectReceiveStream[anyio.Event]] = [r for _, r in streams]

    async def stage(index: int) -> None:
        async with receives[index]:
            if index == length - 1:
                async for event in receives[index]:
                    event.set()
                return
            following = sends[index + 1]
            async with following:
                async for event in receives[index]:
                    if nowait:
                        try:
                            following.send_nowait(event)
                            continue
                        except anyio.WouldBlock:
                            pass
                    await following.send(event)

    first = sends[0]

    async def one(i: int) -> None:
        done = anyio.Event()
        await first.send(done)
        await done.wait()

    async with anyio.create_task_group() as tg:
        for index in range(length):
            tg.start_soon(stage, index)
        async with first:
            await run_window(one, warmup, window)
            gc.collect()
            started = time.perf_counter()
            await run_window(one, requests, window)
            elapsed = time.perf_counter() - started
    return elapsed


async def benchmark(args: argparse.Namespace) -> float:
    capacity = 64  # RuntimeConfig.mailbox_capacity's default, also the Neuron default
    per_hop: dict[tuple[str, int], list[float]] = {}
    for run in range(args.runs):
        for length in CHAINS:
            bare = await measure_bare(
                length, capacity, args.requests, args.window, args.warmup, nowait=args.bare_send == "nowait"
            )
            instrumented = await measure_runtime(length, capacity, args.requests, args.window, args.warmup)
            per_hop.setdefault(("bare", length), []).append(bare / (args.requests * length) * 1e6)
            per_hop.setdefault(("runtime", length), []).append(instrumented / (args.requests * length) * 1e6)
        if args.verbose:
            print(f"# run {run + 1}/{args.runs} done")

    print(
        f"# runtime_hop: {args.runs} runs x {args.requests} requests, window {args.window}, "
        f"mailbox capacity {capacity}, bare send={args.bare_send}, backend={args.backend}"
    )
    print(f"{'chain':>5} {'bare us/hop':>12} {'runtime us/hop':>15} {'ratio':>6}   runtime runs (us/hop)")
    ratio = 0.0
    for length in CHAINS:
        bare = median(per_hop[("bare", length)])
        instrumented = median(per_hop[("runtime", length)])
        ratio = instrumented / bare
        runs = " ".join(f"{v:.2f}" for v in per_hop[("runtime", length)])
        print(f"{length:>5} {bare:>12.2f} {instrumented:>15.2f} {ratio:>6.2f}   {runs}")
    return ratio  # of the last chain, the 16-neuron one


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements per chain and implementation (median)")
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per measurement")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests before each measurement")
    parser.add_argument("--window", type=int, default=16, help="requests in flight (keep below the capacity, 64)")
    parser.add_argument(
        "--bare-send",
        choices=("send", "nowait"),
        default="send",
        help="bare stages forward with 'await send()' (default) or 'send_nowait()' falling back to send()",
    )
    parser.add_argument("--backend", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.requests < 1 or args.window < 1:
        parser.error("--runs, --requests and --window must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    quiet_logs()
    options = {"use_uvloop": True} if args.backend == "uvloop" else {}
    ratio = anyio.run(benchmark, args, backend="asyncio", backend_options=options)
    print(f"hop_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
