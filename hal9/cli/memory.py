"""``python -m hal9 memory``: the memory database of ``data_dir``, looked after offline."""

from __future__ import annotations

import argparse
import sys
import time

import anyio

from hal9.cli.accounts import account_config, locate_database
from hal9.logging import configure_logging


def cmd_memory(args: argparse.Namespace) -> int:
    """``memory reindex``: rebuild the search index from the entries (the server must be stopped)."""
    from hal9.memory import SQLiteMemory

    config = account_config(args)
    database = locate_database(config, creates=False)  # names it; refused where there is none
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    memory = SQLiteMemory(database, config.memory)

    async def run() -> int:
        async with memory:
            started = time.monotonic()
            entries = await memory.reindex()
        print(f"reindexed {entries} entries of {database} in {time.monotonic() - started:.1f} s")
        return 0

    return anyio.run(run)
