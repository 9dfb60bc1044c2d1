"""The memory kinds a client may use are named where a client looks: the description and the 422."""

from __future__ import annotations

import pytest

from hal9.memory import MEMORY_KINDS
from tests.server.helpers import Api

pytestmark = pytest.mark.anyio


async def test_the_description_names_every_memory_kind(full_api: Api) -> None:
    described = (await full_api.client.get("/openapi.json")).json()
    kind = described["components"]["schemas"]["StoreRequest"]["properties"]["kind"]
    assert kind["description"] == f"one of {', '.join(MEMORY_KINDS)} (else 422)"
    search = described["paths"]["/api/v1/memory/search"]["get"]["parameters"]
    [kind_parameter] = [p for p in search if p["name"] == "kind"]
    assert all(name in kind_parameter["description"] for name in MEMORY_KINDS)


async def test_a_wrong_kind_is_refused_with_the_allowed_ones(full_api: Api) -> None:
    response = await full_api.client.post("/api/v1/memory", json={"content": "x", "kind": "note"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "kind"]
    assert all(f"'{name}'" in error["msg"] for name in MEMORY_KINDS)
