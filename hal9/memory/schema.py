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
    # 2: the search index moves out of SQLite (a tantivy index derived from entries, hal9.memory.index);
    # SQLite keeps what it needs to catch that index up after a crash, and an order to evict by.
    """
    DROP TRIGGER entries_fts_insert;
    DROP TRIGGER entries_fts_delete;
    DROP TRIGGER entries_fts_update;
    DROP TABLE entries_fts;
    -- The search index's progress: every entry with an id up to the watermark is in it.
    CREATE TABLE search_index (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        identity TEXT NOT NULL,
        watermark INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO search_index (id, identity) VALUES (1, lower(hex(randomblob(16))));
    -- Deletes the search index has yet to apply: every delete, whoever runs it, is journaled here.
    CREATE TABLE search_index_deletes (id INTEGER PRIMARY KEY);
    CREATE TRIGGER entries_deleted AFTER DELETE ON entries BEGIN
        INSERT OR IGNORE INTO search_index_deletes (id) VALUES (old.id);
    END;
    -- Eviction's order: the least important first, then the longest unused.
    CREATE INDEX entries_by_eviction ON entries (importance, last_accessed);
    """,
    # 3: in a cluster, entries other servers stored are imported (hal9.memory.replication): each
    # remembers where it came from, so a redelivered one is recognised; local ones have no origin.
    """
    ALTER TABLE entries ADD COLUMN origin TEXT;
    ALTER TABLE entries ADD COLUMN origin_id INTEGER;
    CREATE UNIQUE INDEX entries_by_origin ON entries (origin, origin_id) WHERE origin IS NOT NULL;
    -- Every entry stored here with an id up to ``published`` is in the cluster's memory stream.
    CREATE TABLE replication (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        published INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO replication (id) VALUES (1);
    """,
    # 4: in a cluster, a forget reaches every server (hal9.memory.replication). Each server keeps the
    # key (origin, id there) of every entry forgotten anywhere, so the entry is not imported again
    # while the stream can still deliver it; a forget made here waits with published = 0 until the
    # stream has it.
    """
    CREATE TABLE forgotten (
        origin TEXT NOT NULL,
        origin_id INTEGER NOT NULL,
        at REAL NOT NULL,
        published INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (origin, origin_id)
    );
    CREATE INDEX forgotten_unpublished ON forgotten (published) WHERE published = 0;
    """,
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
