"""``/api/v1/memory``: store (201 with the id), retrieve (404 if unknown), search, and 4xx for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.helpers import Api, OpenApi, make_config

SERVICES = {"llm": "hal9.llm:MockLLM", "memory": "hal9.memory:SQLiteMemory"}


@pytest.fixture
async def memory_api(open_api: OpenApi, tmp_path: Path) -> Api:
    config = make_config(data_dir=str(tmp_path / "data"), services=SERVICES, memory={"max_content_chars": 1000})
    return await open_api(config)


@pytest.mark.anyio
async def test_stored_entry_gets_201_with_its_id_and_reads_back(memory_api: Api) -> None:
    body = {"content": "Prefer a token bucket", "neuron_id": "design", "kind": "lesson", "metadata": {"a": 1}}
    stored = await memory_api.client.post("/api/v1/memory", json=body)
    assert stored.status_code == 201
    entry_id = stored.json()["id"]
    got = await memory_api.client.get(f"/api/v1/memory/{entry_id}")
    assert got.status_code == 200
    entry = got.json()
    assert (entry["content"], entry["neuron_id"], entry["kind"], entry["metadata"]) == (
        body["content"],
        "design",
        "lesson",
        {"a": 1},
    )
    assert memory_api.sample("hal9_memory_operations_total", operation="store", status="success") == 1
    assert memory_api.sample(
        "hal9_http_requests_total", method="GET", endpoint="/api/v1/memory/{entry_id}", status="200"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("entry_id", ["999", str(2**63 - 1)])
async def test_unknown_entry_is_404(memory_api: Api, entry_id: str) -> None:
    response = await memory_api.client.get(f"/api/v1/memory/{entry_id}")
    assert response.status_code == 404
    assert "no memory entry" in response.json()["detail"]


@pytest.mark.anyio
@pytest.mark.parametrize("entry_id", ["abc", "0", str(2**63), "-1"])
async def test_an_id_that_cannot_exist_is_422(memory_api: Api, entry_id: str) -> None:
    assert (await memory_api.client.get(f"/api/v1/memory/{entry_id}")).status_code == 422


@pytest.mark.anyio
@pytest.mark.parametrize(("entry_id", "status"), [("0", 422), (str(2**63), 422), ("abc", 405), ("-1", 405)])
async def test_forgetting_an_id_that_cannot_exist_is_refused(memory_api: Api, entry_id: str, status: int) -> None:
    """Digits out of range are 422; a path that is no id is not an entry, which only GET takes there (405)."""
    response = await memory_api.client.delete(f"/api/v1/memory/{entry_id}")
    assert response.status_code == status
    if status == 405:
        assert response.headers["allow"] == "GET"


@pytest.mark.anyio
async def test_a_forgotten_entry_is_204_then_gone_from_reads_and_searches(memory_api: Api) -> None:
    client = memory_api.client
    kept = (await client.post("/api/v1/memory", json={"content": "the heron runbook"})).json()["id"]
    gone = (await client.post("/api/v1/memory", json={"content": "the heron secret"})).json()["id"]
    forgotten = await client.delete(f"/api/v1/memory/{gone}")
    assert (forgotten.status_code, forgotten.content) == (204, b"")
    assert (await client.get(f"/api/v1/memory/{gone}")).status_code == 404
    found = await client.get("/api/v1/memory/search", params={"q": "heron", "match": "any"})
    assert [entry["id"] for entry in found.json()] == [kept]
    again = await client.delete(f"/api/v1/memory/{gone}")
    assert again.status_code == 404
    assert "no memory entry" in again.json()["detail"]
    assert memory_api.sample(
        "hal9_http_requests_total", method="DELETE", endpoint="/api/v1/memory/{entry_id}", status="204"
    )


@pytest.mark.anyio
async def test_search_ranks_filters_and_limits(memory_api: Api) -> None:
    client = memory_api.client
    for content, neuron, kind in (
        ("cache cache invalidation", "a", "lesson"),
        ("cache in front of the database with more words", "a", "result"),
        ("cache for b", "b", "lesson"),
    ):
        assert (
            await client.post("/api/v1/memory", json={"content": content, "neuron_id": neuron, "kind": kind})
        ).status_code == 201
    found = (await client.get("/api/v1/memory/search", params={"q": "cache"})).json()
    assert found[0]["content"] == "cache cache invalidation"
    assert len(found) == 3
    assert all(e["score"] is not None for e in found)
    only_a = (
        await client.get("/api/v1/memory/search", params={"q": "cache", "neuron_id": "a", "kind": "lesson"})
    ).json()
    assert [e["content"] for e in only_a] == ["cache cache invalidation"]
    assert len((await client.get("/api/v1/memory/search", params={"q": "cache", "limit": 1})).json()) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("q", ['"', "content:cache", "NEAR(a b", "\x00", "*", "') OR 1=1 --"])
async def test_search_with_query_syntax_is_200(memory_api: Api, q: str) -> None:
    await memory_api.client.post("/api/v1/memory", json={"content": "cache"})
    response = await memory_api.client.get("/api/v1/memory/search", params={"q": q})
    assert response.status_code == 200
    assert isinstance(response.json(), list)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "limit": 101}, "limit"),
        ({"q": "x", "kind": "opinion"}, "kind"),
        ({"q": "x" * 1001}, "q"),
        ({}, "q"),
        ({"q": "x", "since": "nan"}, "since"),
    ],
)
async def test_bad_search_parameters_are_422_naming_the_field(memory_api: Api, params: dict, field: str) -> None:
    response = await memory_api.client.get("/api/v1/memory/search", params=params)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content": ""}, 422),
        ({"content": "   "}, 422),
        ({"content": "x", "kind": "opinion"}, 422),
        ({"content": "x", "importance": 2}, 422),
        ({"content": "x", "neuron_id": "bad id with spaces"}, 422),
        ({"content": "x", "unknown": 1}, 422),
        ({"content": "x" * 1001}, 413),
    ],
)
async def test_bad_entries_are_refused_with_a_clear_status(memory_api: Api, body: dict, status: int) -> None:
    response = await memory_api.client.post("/api/v1/memory", json=body)
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.anyio
async def test_without_a_memory_service_the_routes_answer_503(api: Api) -> None:
    response = await api.client.get("/api/v1/memory/search", params={"q": "x"})
    assert response.status_code == 503
    assert "memory" in response.json()["detail"]
