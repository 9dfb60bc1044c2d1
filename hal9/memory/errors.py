"""Errors of the memory service."""

from __future__ import annotations

from hal9.errors import Hal9Error


class InvalidMemoryEntry(Hal9Error, ValueError):
    """An entry was refused before storing: empty or oversized content, an unknown kind, a bad importance."""


class MemoryNotRunning(Hal9Error):
    """The memory service is not started (or is stopping) and takes no operations."""


class MemoryIndexBusy(Hal9Error):
    """Another process holds the search index's writer: one process at a time uses a memory database."""
