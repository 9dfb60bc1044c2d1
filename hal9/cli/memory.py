"""``python -m hal9 memory``: the memory database of ``data_dir``, looked after offline."""

from __future__ import annotations

import argparse
import sys
import time

import anyio

from hal9.config import load_config
from hal9.errors import ConfigError
from hal9.logging import configure_logging


def cmd_memory(args: argparse.Namespace) -> int:
    """``memory reindex``: rebuild the search index from the entries (the server must be stopped)."""
    from hal9.memory import SQLiteMemory

    config = load_config(args.config)
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    memory = SQLiteMemory.from_config(config)
    if not memory.path.is_file():
        raise ConfigError(f"no memory database at {memory.path.resolve()} (is data_dir right?)")

    async def run() -> int:
        async with memory:
            started = time.monotonic()
            entries = await memory.reindex()
        print(f"reindexed {entries} entries of {memory.path.resolve()} in {time.monotonic() - started:.1f} s")
        return 0

    return anyio.run(run)
