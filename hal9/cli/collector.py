"""Python's cyclic garbage collector, tuned for a long-running server once it has started."""

from __future__ import annotations

import gc

#: Allocations (less deallocations) between two collections of the youngest generation: CPython's
#: default of 700 runs one every few requests under load.
SERVER_THRESHOLDS = (10_000, 10, 10)


def settle_garbage_collection(thresholds: tuple[int, int, int] = SERVER_THRESHOLDS) -> None:
    """Collect once, freeze what survives, and collect the young generation less often.

    What exists once a server has started (modules, the application, the configuration, the
    neurons) lives as long as the process. Frozen, it is left out of every later collection,
    so a full collection scans what requests created rather than the whole heap: without the
    freeze each full collection stops the event loop for tens of milliseconds, the tail of the
    request latency. Call it once, after start-up, from the process's own command.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
