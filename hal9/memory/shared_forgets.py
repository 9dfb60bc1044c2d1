"""Forgets across a cluster: an entry forgotten on one server is deleted on every server that holds it.

An entry is known across the cluster by its key: the origin it was stored in (a server's
database, ``<server_id>/<identity>``) and its id there. A forget here deletes the entry and, in the
same transaction, keeps its key in the table ``forgotten`` with ``published = 0``: the publisher
(:mod:`hal9.memory.publisher`) sends the keys to the memory stream and marks them published, so a
forget made while NATS is away goes out once it is back. A server that reads the keys of another
server's forget keeps them too and deletes its copies (or, for its own entries, the entries).

A key kept in ``forgotten`` also stops the entry from being imported again (a message delivered
again, or a server that is behind), for as long as the stream can still deliver the entry
(``memory.shared_max_age_seconds``); older keys are dropped. Retention and eviction are not
shared: each server bounds its own store.
"""

from __future__ import annotations

import json
import time

import aiosqlite

from hal9.memory.database import MemoryDatabase, transaction
from hal9.memory.retention import Forgetting

#: The key of entry ``?3`` (its origin, or this database's own ``?1``), kept to be published.
_KEEP_OWN_FORGET = (
    "INSERT OR IGNORE INTO forgotten (origin, origin_id, at, published)"
    " SELECT coalesce(origin, ?1), coalesce(origin_id, id), ?2, 0 FROM entries WHERE id = ?3"
)
_FORGET = "DELETE FROM entries WHERE id = ? RETURNING id, neuron_id"
#: Keys ``[origin, id there]`` (a JSON array) another server forgot.
_KEEP_FORGETS = (
    "INSERT OR IGNORE INTO forgotten (origin, origin_id, at, published)"
    " SELECT value ->> 0, value ->> 1, ?2, 1 FROM json_each(?1)"
)
#: The entries with those keys: imported ones by their origin, this database's (``?2``) by id.
_FORGET_KEYS = (
    "DELETE FROM entries WHERE id IN ("
    " SELECT e.id FROM json_each(?1) AS k JOIN entries AS e"
    " ON e.origin = k.value ->> 0 AND e.origin_id = k.value ->> 1"
    " UNION ALL"
    " SELECT e.id FROM json_each(?1) AS k JOIN entries AS e ON e.id = k.value ->> 1"
    " WHERE k.value ->> 0 = ?2 AND e.origin IS NULL"
    ") RETURNING id, neuron_id"
)
_UNPUBLISHED = "SELECT rowid, origin, origin_id FROM forgotten WHERE published = 0 ORDER BY rowid LIMIT ?"
_MARK_PUBLISHED = "UPDATE forgotten SET published = 1 WHERE published = 0 AND rowid <= ?"
_DROP_OLD = "DELETE FROM forgotten WHERE published = 1 AND at < ?"


async def forget_here(database: MemoryDatabase, forgetting: Forgetting, entry_id: int, origin: str) -> int:
    """Delete entry ``entry_id`` and keep its key to be published; how many went (0 or 1)."""
    async with database.lock, transaction(database.write):
        await database.write.execute(_KEEP_OWN_FORGET, (origin, time.time(), entry_id))
        rows = await database.write.execute_fetchall(_FORGET, (entry_id,))
    return forgetting.deleted([(int(entry_id), str(neuron_id)) for entry_id, neuron_id in rows])


async def apply_forgets(
    database: MemoryDatabase, forgetting: Forgetting, keys: list[tuple[str, int]], *, origin: str, keep: float
) -> int:
    """Keep the keys another server forgot and delete the entries they name here; how many went.

    Keys kept longer than ``keep`` seconds are dropped in the same transaction.
    """
    if not keys:
        return 0
    encoded = json.dumps(keys)
    now = time.time()
    async with database.lock, transaction(database.write):
        await database.write.execute(_KEEP_FORGETS, (encoded, now))
        rows = await database.write.execute_fetchall(_FORGET_KEYS, (encoded, origin))
        await database.write.execute(_DROP_OLD, (now - keep,))
    return forgetting.deleted([(int(entry_id), str(neuron_id)) for entry_id, neuron_id in rows])


async def unpublished(reader: aiosqlite.Connection, limit: int) -> tuple[list[tuple[str, int]], int]:
    """Up to ``limit`` keys forgotten here and not yet in the stream, and the last one's place (0: none)."""
    rows = list(await reader.execute_fetchall(_UNPUBLISHED, (limit,)))
    if not rows:
        return [], 0
    return [(str(origin), int(origin_id)) for _, origin, origin_id in rows], int(rows[-1][0])


async def mark_published(database: MemoryDatabase, up_to: int, drop_before: float) -> None:
    """The keys up to place ``up_to`` are in the stream; keys kept since before ``drop_before`` are dropped."""
    async with database.lock, transaction(database.write):
        await database.write.execute(_MARK_PUBLISHED, (up_to,))
        await database.write.execute(_DROP_OLD, (drop_before,))
