"""The spend ledger: every priced LLM call, kept in the runtime's SQLite database.

The table sits beside whatever else the runtime keeps in ``hal9.db``, used through
:class:`~hal9.support.database.Database` (sqlite3 on a worker thread, WAL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hal9.support.database import Database

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


def _create(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS


class SpendLedger:
    """Append-only rows of (time, model label, tokens, cost), summed back per period on start.

    Args:
        path: the SQLite file; its folder is created if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(path, not_open=lambda: RuntimeError("the spend ledger is not open"))

    async def open(self) -> None:
        await self._db.open(_create)

    async def close(self) -> None:
        await self._db.close()

    async def add(self, at: float, model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        """Record one call."""
        await self._db.call(
            lambda c: c.execute(
                "INSERT INTO llm_spend (at, model, prompt_tokens, completion_tokens, cost) VALUES (?, ?, ?, ?, ?)",
                (at, model, prompt_tokens, completion_tokens, cost),
            )
        )

    async def spend_by_model(self, since: float) -> dict[str, float]:
        """Spend per model label from ``since`` (a Unix time) on."""
        rows = await self._db.call(
            lambda c: c.execute(
                "SELECT model, SUM(cost) FROM llm_spend WHERE at >= ? GROUP BY model", (since,)
            ).fetchall()
        )
        return {str(model): float(total) for model, total in rows}

    async def calls_since(self, since: float) -> list[tuple[float, float]]:
        """(time, cost) of every call from ``since`` on, oldest first."""
        rows = await self._db.call(
            lambda c: c.execute("SELECT at, cost FROM llm_spend WHERE at >= ? ORDER BY at", (since,)).fetchall()
        )
        return [(float(at), float(cost)) for at, cost in rows]
