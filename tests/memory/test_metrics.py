"""The six Memory System families: driven by real work, with the contract's names, types, labels, buckets."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9 import Runtime
from hal9.config import MemoryConfig
from hal9.memory import SQLiteMemory
from tests.metrics.test_families import contract
from tests.support import Echo, config

MEMORY_FAMILIES = (
    "hal9_memory_entries_total",
    "hal9_memory_database_bytes",
    "hal9_memory_operations_total",
    "hal9_memory_operation_duration_seconds",
    "hal9_memory_cache_hits_total",
    "hal9_memory_cache_misses_total",
)


def file_bytes(db_path: Path) -> int:
    """The database, its WAL and the search index's files: what the memory keeps on disk."""
    wal = db_path.with_name("hal9.db-wal")
    index = sum(path.stat().st_size for path in db_path.with_name("hal9.db.index").iterdir())
    assert index > 0
    return db_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0) + index


@pytest.mark.anyio
async def test_operation_counters_and_histograms_match_the_work_done(db_path: Path) -> None:
    memory = SQLiteMemory(db_path, MemoryConfig(cache_size=8))
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("echo")])
    sample = runtime.metrics.sample
    for operation in ("store", "retrieve", "search"):  # series exist at zero before any work
        assert sample("hal9_memory_operations_total", {"operation": operation, "status": "success"}) == 0
        assert sample("hal9_memory_operations_total", {"operation": operation, "status": "error"}) == 0
    async with memory:
        ids = [await memory.store(f"note {i}", neuron_id="echo") for i in range(3)]
        with pytest.raises(ValueError, match="non-empty"):
            await memory.store("", neuron_id="echo")
        await memory.retrieve(ids[0])  # miss
        await memory.retrieve(ids[0])  # hit
        await memory.retrieve(ids[1])  # miss
        await memory.retrieve(10_000)  # miss, not found
        await memory.search("note")
        await memory.search('"((')

    def ops(operation: str, status: str) -> float | None:
        return sample("hal9_memory_operations_total", {"operation": operation, "status": status})

    assert (ops("store", "success"), ops("store", "error")) == (3, 1)
    assert (ops("retrieve", "success"), ops("retrieve", "error")) == (4, 0)
    assert (ops("search", "success"), ops("search", "error")) == (2, 0)
    assert sample("hal9_memory_operation_duration_seconds_count", {"operation": "store"}) == 4
    assert sample("hal9_memory_operation_duration_seconds_bucket", {"operation": "search", "le": "+Inf"}) == 2
    assert sample("hal9_memory_cache_hits_total") == 1
    assert sample("hal9_memory_cache_misses_total") == 3


@pytest.mark.anyio
async def test_entries_per_neuron_and_database_bytes_follow_stores_and_forgets(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("echo")])
    memory.track_neuron("echo")
    sample = runtime.metrics.sample
    async with memory:
        assert sample("hal9_memory_entries_total", {"neuron_id": "echo"}) == 0
        assert sample("hal9_memory_entries_total", {"neuron_id": "other"}) == 0
        first = await memory.store("a", neuron_id="echo")
        await memory.store("b", neuron_id="echo")
        await memory.store("c", neuron_id="api-client")  # not a neuron: folded into "other"
        assert sample("hal9_memory_entries_total", {"neuron_id": "echo"}) == 2
        assert sample("hal9_memory_entries_total", {"neuron_id": "other"}) == 1
        await memory.forget(first)
        assert sample("hal9_memory_entries_total", {"neuron_id": "echo"}) == 1
        await memory.wait_searchable()  # the index has taken everything in: its files stay as they are
        await memory.refresh_stats()
        size = sample("hal9_memory_database_bytes")
        assert size == file_bytes(db_path)
        assert size is not None
        assert size > 0


@pytest.mark.anyio
async def test_all_six_memory_families_appear_in_a_scrape_as_the_contract_says(db_path: Path) -> None:
    memory = SQLiteMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("echo")])
    memory.track_neuron("echo")
    async with memory:
        entry_id = await memory.store("scraped", neuron_id="echo")
        await memory.retrieve(entry_id)
        await memory.search("scraped")
        text = (await runtime.metrics.render_async()).decode()
    parsed = {f.name + ("_total" if f.type == "counter" else ""): f for f in text_string_to_metric_families(text)}
    for name in MEMORY_FAMILIES:
        expected = contract()[name]
        metric = parsed[name]
        assert metric.type == expected.type, name
        samples = [s for s in metric.samples if not s.name.endswith("_created")]
        assert samples, name
        for s in samples:
            assert tuple(label for label in s.labels if label != "le") == expected.labels, name
            for label, allowed in expected.values.items():
                assert s.labels[label] in allowed
        for label, allowed in expected.values.items():
            assert {s.labels[label] for s in samples} == set(allowed), name
        if expected.buckets is not None:
            bounds = sorted({float(s.labels["le"]) for s in samples if s.name.endswith("_bucket")})
            assert bounds == [*expected.buckets, float("inf")]
