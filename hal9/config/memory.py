"""The ``[memory]`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hal9.config.section import Section


class MemoryConfig(Section):
    """The memory service (``hal9.memory:SQLiteMemory``), one SQLite file in ``data_dir``."""

    cache_size: int = Field(default=1024, ge=0, description="entries kept in the retrieve-by-id LRU cache")
    max_content_chars: int = Field(default=100_000, gt=0, description="longer entries are refused")
    batch_size: int = Field(default=256, gt=0, description="most entries one commit writes (group commit)")
    queue_size: int = Field(default=4096, gt=0, description="stores waiting for the writer before senders wait")
    synchronous: Literal["full", "normal"] = Field(
        default="full", description="full: a stored entry survives power loss; normal: only a process crash"
    )
    retention_max_age_seconds: float = Field(
        default=30 * 86400, gt=0, description="entries unused this long are removed if unimportant"
    )
    retention_min_importance: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="entries below it age out (the neurons' own, at 0.5, do); at or above are kept (lessons: 0.9)",
    )
    retention_interval_seconds: float = Field(default=600.0, gt=0)
    retention_batch: int = Field(
        default=1000, gt=0, description="entries one retention statement removes; a run repeats it until none qualify"
    )
    stats_interval_seconds: float = Field(default=5.0, gt=0, description="how often the file sizes are re-read")
    max_entries: int = Field(
        default=1_000_000,
        gt=0,
        description="most entries kept; past it the least important, then longest unused, are evicted (never lessons)",
    )
    max_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="most bytes of the database file in use; past it entries are evicted as for max_entries",
    )
    shared_max_age_seconds: float = Field(
        default=7 * 86400,
        gt=0,
        description="in a cluster: how long the memory stream keeps an entry for a server that was away "
        "(and a departed server's consumer)",
    )
    shared_max_bytes: int = Field(
        default=1024**3,
        gt=0,
        description="in a cluster: the memory stream's size at most; past it the oldest entries leave the stream",
    )
    index_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="new entries reach the search index within this; a search through the API sees them at once",
    )
