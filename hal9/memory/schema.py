"""The database schema, versioned with ``PRAGMA user_version``: each migration runs once, in order."""

from __future__ import annotations

import aiosqlite

from hal9.runtime.memory import MEMORY_KINDS

_KINDS = ", ".join(f"'{kind}'" for kind in MEMORY_KINDS)

#: Migration ``n`` (1-based) brings the schema from version ``n - 1`` to ``n``. Append; never edit.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a forgotten id is never handed out again
        neuron_id TEXT NOT NULL,
        layer TEXT,
        kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),
        content TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(metadata)),
        importance REAL NOT NULL DEFAULT 0.5 CHECK (importance BETWEEN 0 AND 1),
        created_at REAL NOT NULL,
        last_accessed REAL NOT NULL,
        access_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX entries_by_neuron ON entries (neuron_id, created_at);
    CREATE INDEX entries_by_age ON entries (created_at);
    -- An external-content index: the text is stored once, in entries.
    CREATE VIRTUAL TABLE entries_fts USING fts5(
        content, content='entries', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts (rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts (entries_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    -- Only a change of the text touches the index; access bookkeeping does not.
    CREATE TRIGGER entries_fts_update AFTER UPDATE OF content ON entries BEGIN
        INSERT INTO entries_fts (entries_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO entries_fts (rowid, content) VALUES (new.id, new.content);
    END;
    """,  # noqa: S608 - the one value formatted in is the constant list of kinds
)

SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(connection: aiosqlite.Connection) -> int:
    """Apply the migrations the database lacks, each in its own transaction; the version reached.

    Raises:
        RuntimeError: the database was written by a newer HAL9 (a higher version than known).
    """
    rows = await connection.execute_fetchall("PRAGMA user_version")
    version = int(next(iter(rows))[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"memory database has schema version {version}; this HAL9 knows up to {SCHEMA_VERSION}")
    for number in range(version + 1, SCHEMA_VERSION + 1):
        # executescript commits first; BEGIN ... COMMIT makes the migration and its version one step.
        await connection.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[number - 1]}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    return SCHEMA_VERSION
