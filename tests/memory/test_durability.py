"""A process killed (SIGKILL) while storing loses no entry whose store had returned; the file stays sound.

The kill lands between SQLite commits and the search index's refreshes, so it also proves the
index catches up at the next start: every entry that was stored is found by a search.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from hal9.memory import SQLiteMemory

CHILD = textwrap.dedent(
    """
    import sys
    import anyio
    from hal9.memory import SQLiteMemory

    async def main(path):
        async with SQLiteMemory(path) as memory:
            async def writer(w):
                i = 0
                while True:
                    word = f"w{w}x{i}"
                    entry_id = await memory.store(f"writer {w} entry {word} " + "text " * 20, neuron_id=f"n{w}")
                    # Printed only after store() returned: the entry is claimed durable from here on.
                    sys.stdout.write(f"stored {entry_id} {word}\\n")
                    sys.stdout.flush()
                    i += 1
            async with anyio.create_task_group() as tg:
                for w in range(32):
                    tg.start_soon(writer, w)

    anyio.run(main, sys.argv[1])
    """
)


@pytest.mark.slow
def test_every_store_that_returned_survives_sigkill_and_integrity_holds(tmp_path: Path) -> None:
    path = tmp_path / "hal9.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    returned: list[int] = []
    words: dict[int, str] = {}
    try:
        for line in child.stdout:
            if not line.startswith("stored "):
                continue  # a log line
            _, entry_id, word = line.split()
            returned.append(int(entry_id))
            words[int(entry_id)] = word
            if len(returned) >= 2_000:
                break
        child.send_signal(signal.SIGKILL)  # mid-stream: writers are still storing
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    assert len(returned) >= 2_000
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in connection.execute("SELECT id FROM entries")}
    assert set(returned) <= stored
    anyio.run(_all_found, path, words)


async def _all_found(path: Path, words: dict[int, str]) -> None:
    async with SQLiteMemory(path) as memory:
        for entry_id, word in words.items():
            assert [entry.id for entry in await memory.search(word)] == [entry_id], word
