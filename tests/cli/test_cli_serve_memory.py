"""A real server with the memory service: neurons and the API store, a real scrape has the memory families."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.helpers import StartServer, contract, samples, value

pytestmark = pytest.mark.slow

CONFIG = 'server_id = "memory-test"\nservices = { llm = "hal9.llm:MockLLM", memory = "hal9.memory:SQLiteMemory" }\n'
MEMORY = contract("Memory System Metrics")


def test_contract_has_the_six_memory_families() -> None:
    assert len(MEMORY) == 6


def test_served_memory_stores_searches_and_is_scraped_as_the_contract_says(start_server: StartServer) -> None:
    """Requests store each neuron's tasks and results; the API works; the six families are in the scrape."""
    server = start_server(CONFIG)
    with httpx.Client(base_url=server.url, timeout=15) as client:
        for content in ("Build a rate limiter", "Improve the rate limiter"):
            assert client.post("/api/v1/signals", json={"content": content, "wait": True}).status_code == 200
        stored = client.post("/api/v1/memory", json={"content": "Prefer token buckets", "kind": "lesson"})
        assert stored.status_code == 201
        entry_id = stored.json()["id"]
        assert client.get(f"/api/v1/memory/{entry_id}").json()["content"] == "Prefer token buckets"
        found = client.get("/api/v1/memory/search", params={"q": "rate limiter", "neuron_id": "strategic"}).json()
        assert {e["kind"] for e in found} == {"task", "result"}
        text = client.get("/metrics").text

    families = samples(text)
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    for row in MEMORY:
        assert types[row.parsed_name] == row.type, row.name
        for sample in families[row.parsed_name]:
            assert set(sample.labels) - {"le"} == row.labels, (row.name, sample)
            for label, allowed in row.values.items():
                assert sample.labels[label] in allowed
        for label, allowed in row.values.items():
            assert {s.labels[label] for s in families[row.parsed_name]} == allowed
    assert value(text, "hal9_memory_entries_total", neuron_id="strategic") == 4  # 2 tasks, 2 results
    assert value(text, "hal9_memory_entries_total", neuron_id="other") == 1  # the API's entry
    assert value(text, "hal9_memory_operations_total", operation="store", status="success") >= 1
    assert value(text, "hal9_memory_cache_misses_total") == 1
    assert value(text, "hal9_memory_database_bytes") > 0

    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
        )
        # The one expected complaint: a gauge named like a counter (the seed's name, kept).
        complaints = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
        assert all("hal9_memory_entries_total" in line for line in complaints), complaints

    assert server.stop() == 0
    assert server.stderr() == "", server.output()
    with sqlite3.connect(server.cwd / "hal9-data" / "hal9.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
    assert count == value(text, "hal9_memory_entries_total", neuron_id="strategic") + sum(
        value(text, "hal9_memory_entries_total", neuron_id=n) or 0 for n in ("design", "implementation", "other")
    )
