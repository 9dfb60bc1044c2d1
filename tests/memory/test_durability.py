"""A process killed (SIGKILL) while storing loses no entry whose store had returned; the file stays sound."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
                    entry_id = await memory.store(f"writer {w} entry {i} " + "text " * 20, neuron_id=f"n{w}")
                    # Printed only after store() returned: the entry is claimed durable from here on.
                    sys.stdout.write(f"stored {entry_id}\\n")
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
    try:
        for line in child.stdout:
            if not line.startswith("stored "):
                continue  # a log line
            returned.append(int(line.split()[1]))
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
        connection.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
        stored = {row[0] for row in connection.execute("SELECT id FROM entries")}
    assert set(returned) <= stored
