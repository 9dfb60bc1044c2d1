"""Helpers for testing neurons: a scripted mock LLM, a running runtime, log capture.

Example:
    >>> from hal9.testing import running_runtime, scripted_llm
    >>> llm = scripted_llm(("L2", None, "42"))
    >>> async with running_runtime(neurons=[MyNeuron("mine")], llm=llm) as rt:
    ...     result = await rt.ask("question")

With pytest, the plugin :mod:`hal9.pytest_plugin` (loaded automatically once hal9 is
installed) adds the fixtures ``mock_llm`` and ``hal9_runtime``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from structlog.testing import capture_logs

from hal9.config import Config, MockReply
from hal9.layer import Layer
from hal9.llm.mock import LLMCall, MockLLM
from hal9.runtime.neuron import Neuron
from hal9.runtime.runtime import Runtime
from hal9.runtime.service import Service

__all__ = ["LLMCall", "MockLLM", "capture_logs", "running_runtime", "scripted_llm"]

Rule = MockReply | tuple[Layer | str | None, str | None, str]


def scripted_llm(*rules: Rule, latency: float = 0.0, model: str = "mock-claude") -> MockLLM:
    """A mock LLM answering from ``rules``, each ``(layer, trigger, reply)`` or a MockReply.

    The first rule whose layer (None: any) and trigger (a substring of the prompt; None:
    any) match answers; calls no rule matches get the per-layer template. Every call is
    kept in ``llm.calls`` so a test can see the prompts actually sent.
    """
    replies = [
        rule
        if isinstance(rule, MockReply)
        else MockReply.model_validate(dict(zip(("layer", "trigger", "reply"), rule, strict=True)))
        for rule in rules
    ]
    return MockLLM(replies, model=model, latency=latency)


@asynccontextmanager
async def running_runtime(
    config: Config | None = None,
    *,
    neurons: Iterable[Neuron] | None = None,
    connections: Iterable[tuple[str, str]] = (),
    llm: Service | None = None,
    services: Mapping[str, Service] | None = None,
) -> AsyncIterator[Runtime]:
    """A started runtime, stopped (drained) on exit.

    Args:
        config: the defaults if None (memory, tools and learning too; with no ``data_dir``,
            nothing is written: the memory lasts as long as the runtime).
        neurons: your neurons instead of the configured network; wire them with ``connections``.
        connections: ``(source, target)`` pairs.
        llm: the LLM service (a fresh :class:`MockLLM` if None).
        services: further services by name.
    """
    chosen: dict[str, Service] = {"llm": llm if llm is not None else MockLLM(), **(services or {})}
    runtime = Runtime(config, services=chosen, neurons=neurons)
    for source, target in connections:
        runtime.connect(source, target)
    async with runtime:
        yield runtime
