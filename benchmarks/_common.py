"""Shared pieces of the benchmarks: a pass-through neuron, chain building and a quiet logger."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import structlog

from hal9 import Config, Layer, Neuron, Runtime, Signal


class Relay(Neuron):
    """Returns its input unchanged: the hop costs only what the runtime adds around ``process()``."""

    async def process(self, signal: Signal) -> Any:
        return signal.content


class Sink(Neuron):
    """Ends its branch (returns None): the root of idle neurons that exist but carry no traffic."""

    layer = Layer.L1

    async def process(self, signal: Signal) -> Any:
        return None


def quiet_logs() -> None:
    """Drop info logs (runtime.started/stopped) so the benchmark output stays parseable."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def bare_config() -> Config:
    """No configured neurons and no services: the neurons come from the benchmark."""
    return Config(neurons=(), services={})


def chain_runtime(length: int, capacity: int, *, idle: int = 0) -> Runtime:
    """A runtime with ``length`` Relay neurons in a chain ``c0 -> c1 -> ...``.

    With ``idle`` > 0 a Sink neuron ``idle-root`` and ``idle - 1`` neurons downstream of it
    are added too: they exist (tasks, mailboxes, metric series) but only the Sink sees
    traffic, one cheap hop per request, since every entry neuron receives each request.
    """
    neurons: list[Neuron] = [Relay(f"c{i}", mailbox_capacity=capacity) for i in range(length)]
    if idle:
        neurons.append(Sink("idle-root", mailbox_capacity=capacity))
        neurons.extend(Relay(f"idle{i}", mailbox_capacity=capacity) for i in range(idle - 1))
    rt = Runtime(bare_config(), neurons=neurons)
    for i in range(length - 1):
        rt.connect(f"c{i}", f"c{i + 1}")
    for i in range(idle - 1):
        rt.connect("idle-root", f"idle{i}")
    return rt


async def run_window(one_request: Callable[[int], Awaitable[None]], requests: int, window: int) -> None:
    """Run ``requests`` calls of ``one_request`` with at most ``window`` of them in flight."""
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            await one_request(i)

    async with anyio.create_task_group() as tg:
        for _ in range(min(window, requests)):
            tg.start_soon(worker)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
