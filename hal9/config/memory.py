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
    retention_min_importance: float = Field(default=0.5, ge=0, le=1, description="entries at or above are kept")
    retention_interval_seconds: float = Field(default=600.0, gt=0)
    retention_batch: int = Field(default=1000, gt=0, description="most entries one retention run removes")
    stats_interval_seconds: float = Field(default=5.0, gt=0, description="how often the file sizes are re-read")
    search_candidates: int = Field(
        default=1000,
        gt=0,
        description="K: a search whose full ranking costs too much ranks the newest K matches (its work scales with K)",
    )
