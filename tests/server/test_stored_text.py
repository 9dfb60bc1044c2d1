"""Text that cannot be encoded is never stored, and reading what is stored never fails (issue case 2).

``POST /api/v1/memory`` with ``{"content": "x", "metadata": {"v": "\\udc80"}}`` used to answer
201; from then on a GET of that entry, and every search that found it, answered 500.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hal9.config import MemoryConfig
from hal9.errors import InvalidMemoryEntry
from hal9.memory import SQLiteMemory
from hal9.runtime.memory import MemoryEntry, MemoryRecord
from hal9.server.memory import EntryView
from tests.server.helpers import Api, OpenApi, make_config

pytestmark = pytest.mark.anyio

SERVICES = {"llm": "hal9.llm:MockLLM", "memory": "hal9.memory:SQLiteMemory"}


@pytest.fixture
async def memory_api(open_api: OpenApi, tmp_path: Path) -> Api:
    return await open_api(make_config(data_dir=str(tmp_path / "data"), services=SERVICES))


async def test_the_poisoned_entry_of_the_issue_is_refused_with_422(memory_api: Api) -> None:
    body = rb'{"content": "x", "metadata": {"v": "\udc80"}}'

    response = await memory_api.client.post(
        "/api/v1/memory", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("string_unicode", ["body", "metadata", "v"])
    found = await memory_api.client.get("/api/v1/memory/search", params={"q": "x"})
    assert (found.status_code, found.json()) == (200, [])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (MemoryRecord("\ud800 text", "n"), "content must be valid Unicode"),
        (MemoryRecord("text", "n\udfff"), "neuron_id must be valid Unicode"),
        (MemoryRecord("text", "n", metadata={"v": "\udc80"}), "metadata must hold valid Unicode"),
        (MemoryRecord("text", "n", metadata={"\udc80": 1}), "metadata must hold valid Unicode"),
        (MemoryRecord("text", "n", metadata={"deep": [{"v": "ok \ud83d"}]}), "metadata must hold valid Unicode"),
    ],
)
async def test_the_write_path_refuses_text_that_is_not_valid_unicode(
    tmp_path: Path, record: MemoryRecord, message: str
) -> None:
    """Whoever writes (a neuron, the API), the memory service refuses it before the writer: InvalidMemoryEntry."""
    async with SQLiteMemory(tmp_path / "hal9.db", MemoryConfig()) as memory:
        with pytest.raises(InvalidMemoryEntry, match=message):
            await memory.store_many([record])
        assert memory.commits == 0


async def test_text_with_surrogate_pairs_and_other_unicode_is_stored_as_it_is(memory_api: Api) -> None:
    body = {"content": "caf\u00e9 \U0001f600", "metadata": {"v": "\u00e9t\u00e9 \U0001f600", "\u00e9": [1, "\u4e2d"]}}

    stored = await memory_api.client.post("/api/v1/memory", json=body)
    entry = (await memory_api.client.get(f"/api/v1/memory/{stored.json()['id']}")).json()

    assert (entry["content"], entry["metadata"]) == (body["content"], body["metadata"])


async def test_an_entry_stored_before_the_fix_reads_back_with_replacement_characters(
    open_api: OpenApi, tmp_path: Path
) -> None:
    """An entry whose metadata holds a lone surrogate escape (as the old write path stored it) is returned, scrubbed."""
    data = tmp_path / "data"
    async with SQLiteMemory(data / "hal9.db", MemoryConfig()):
        pass  # the schema
    with sqlite3.connect(data / "hal9.db") as db:
        db.execute(
            "INSERT INTO entries (neuron_id, kind, content, metadata, importance, created_at, last_accessed)"
            " VALUES ('api', 'signal', 'poisoned entry', ?, 0.5, 1.0, 1.0)",
            ('{"v": "\\udc80", "ok": "\\ud83d\\ude00"}',),  # JSON text: a lone surrogate, then a valid pair
        )
    api = await open_api(make_config(data_dir=str(data), services=SERVICES))

    [found] = (await api.client.get("/api/v1/memory/search", params={"q": "poisoned"})).json()
    got = await api.client.get(f"/api/v1/memory/{found['id']}")

    assert got.status_code == 200
    assert got.json()["metadata"] == found["metadata"] == {"v": "\ufffd", "ok": "\U0001f600"}


@pytest.mark.parametrize(
    ("content", "metadata", "expected"),
    [
        ("a \ud800 b", {"k\udfff": ["\udc80", 1.5]}, ("a \ufffd b", {"k\ufffd": ["\ufffd", 1.5]})),
        ("plain", {"n": float("nan")}, ("plain", {"n": None})),
    ],
)
def test_an_entry_view_can_always_be_encoded(content: str, metadata: dict[str, Any], expected: tuple[Any, ...]) -> None:
    entry = MemoryEntry(1, "api", None, "signal", content, metadata, 0.5, 1.0, 1.0, 0)

    view = EntryView.of(entry)

    assert (view.content, view.metadata) == expected
    view.model_dump_json()  # raises if it cannot be encoded
