"""The spend ledger: every priced LLM call, kept in the runtime's SQLite database.

The table sits beside whatever else the runtime keeps in ``hal9.db``, used through
:class:`~hal9.support.database.Database` (sqlite3 on a worker thread, WAL). Each row says
whether the real API or the mock answered (``mode``): the mock's calls are priced as the
models they stand in for, and its spend must never count against the real API's budgets.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from hal9.support.database import Database

#: Who answered a call: the Claude API, or the mock standing in for it.
Mode = Literal["real", "mock"]
#: One call: (Unix time, model label, prompt tokens, completion tokens, cost in US dollars).
SpendRow = tuple[float, str, int, int, float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_spend (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    mode TEXT NOT NULL DEFAULT 'real'
);
CREATE INDEX IF NOT EXISTS llm_spend_at ON llm_spend (at);
"""


def _create(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS
    columns = {str(row[1]) for row in connection.execute("PRAGMA table_info(llm_spend)")}
    if "mode" not in columns:
        # A ledger written before calls had a mode: every row in it was a real API call.
        connection.execute("ALTER TABLE llm_spend ADD COLUMN mode TEXT NOT NULL DEFAULT 'real'")


class SpendLedger:
    """Append-only rows of (time, model label, tokens, cost, mode), summed back per period on start.

    Args:
        path: the SQLite file; its folder is created if missing.
        mode: the mode this ledger's rows are written with and read back by; the real service
            and the mock share one table and never see each other's spend.
    """

    def __init__(self, path: Path, mode: Mode = "real") -> None:
        self.path = path
        self.mode: Mode = mode
        self._db = Database(path, not_open=lambda: RuntimeError("the spend ledger is not open"))

    @property
    def is_open(self) -> bool:
        return self._db.is_open

    async def open(self) -> None:
        await self._db.open(_create)

    async def close(self) -> None:
        await self._db.close()

    async def add(self, at: float, model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        """Record one call."""
        await self.add_many([(at, model, prompt_tokens, completion_tokens, cost)])

    async def add_many(self, rows: Sequence[SpendRow]) -> None:
        """Record several calls in one transaction."""
        mode = self.mode

        def write(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN")
            try:
                connection.executemany(
                    "INSERT INTO llm_spend (at, model, prompt_tokens, completion_tokens, cost, mode)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(*row, mode) for row in rows],
                )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

        await self._db.call(write)

    async def spend_by_model(self, since: float) -> dict[str, float]:
        """Spend of this ledger's mode per model label from ``since`` (a Unix time) on."""
        rows = await self._db.call(
            lambda c: c.execute(
                "SELECT model, SUM(cost) FROM llm_spend WHERE at >= ? AND mode = ? GROUP BY model",
                (since, self.mode),
            ).fetchall()
        )
        return {str(model): float(total) for model, total in rows}

    async def calls_since(self, since: float) -> list[tuple[float, float]]:
        """(time, cost) of every call of this ledger's mode from ``since`` on, oldest first."""
        rows = await self._db.call(
            lambda c: c.execute(
                "SELECT at, cost FROM llm_spend WHERE at >= ? AND mode = ? ORDER BY at", (since, self.mode)
            ).fetchall()
        )
        return [(float(at), float(cost)) for at, cost in rows]
