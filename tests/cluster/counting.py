"""A neuron for real servers in tests: it counts its runs in a file, so a test sees work done twice across restarts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio

from hal9 import Layer, Neuron, Signal

#: The environment variable naming the file the neuron appends one line to per run.
COUNT_FILE = "DURABLE_TEST_COUNT_FILE"


class CountingNeuron(Neuron):
    """Appends the signal's content to ``$DURABLE_TEST_COUNT_FILE``, then returns it upper-cased."""

    layer = Layer.L2

    async def process(self, signal: Signal) -> Any:
        path = Path(os.environ[COUNT_FILE])
        await anyio.to_thread.run_sync(_append, path, str(signal.content))
        return str(signal.content).upper()


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())
