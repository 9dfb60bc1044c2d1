"""The spend ledger: every priced LLM call, kept in the runtime's SQLite database.

The standard library's sqlite3 runs in a worker thread (``anyio.to_thread``), one
statement at a time through a limiter of one, so the event loop never waits on the disk.
The table sits beside whatever else the runtime keeps in ``hal9.db`` (WAL mode, so a
reader elsewhere never blocks a write here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_spend (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_spend_at ON llm_spend (at);
"""


class SpendLedger:
    """Append-only rows of (time, model label, tokens, cost), summed back per period on start.

    Args:
        path: the SQLite file; its folder is created if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Used from one worker thread at a time (the limiter), though not always the same one.
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Shielded: a cancelled stop still releases the file.
            with anyio.CancelScope(shield=True):
                await self._run(connection.close)

    async def add(self, at: float, model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        """Record one call."""
        connection = self._require()
        await self._run(
            lambda: connection.execute(
                "INSERT INTO llm_spend (at, model, prompt_tokens, completion_tokens, cost) VALUES (?, ?, ?, ?, ?)",
                (at, model, prompt_tokens, completion_tokens, cost),
            )
        )

    async def spend_by_model(self, since: float) -> dict[str, float]:
        """Spend per model label from ``since`` (a Unix time) on."""
        connection = self._require()
        rows = await self._run(
            lambda: connection.execute(
                "SELECT model, SUM(cost) FROM llm_spend WHERE at >= ? GROUP BY model", (since,)
            ).fetchall()
        )
        return {str(model): float(total) for model, total in rows}

    async def calls_since(self, since: float) -> list[tuple[float, float]]:
        """(time, cost) of every call from ``since`` on, oldest first."""
        connection = self._require()
        rows = await self._run(
            lambda: connection.execute("SELECT at, cost FROM llm_spend WHERE at >= ? ORDER BY at", (since,)).fetchall()
        )
        return [(float(at), float(cost)) for at, cost in rows]

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the spend ledger is not open")
        return self._connection

    async def _run(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)
