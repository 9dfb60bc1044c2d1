"""The memory service: SQLite through aiosqlite in WAL mode, FTS5 full-text search, an LRU cache."""

from hal9.errors import InvalidMemoryEntry, MemoryIndexBusy, MemoryNotRunning
from hal9.memory.service import SQLiteMemory
from hal9.runtime.memory import MEMORY_KINDS, Memory, MemoryEntry, MemoryKind, MemoryRecord

__all__ = [
    "MEMORY_KINDS",
    "InvalidMemoryEntry",
    "Memory",
    "MemoryEntry",
    "MemoryIndexBusy",
    "MemoryKind",
    "MemoryNotRunning",
    "MemoryRecord",
    "SQLiteMemory",
]
