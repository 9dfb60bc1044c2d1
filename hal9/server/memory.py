"""``/api/v1/memory``: store, retrieve and search the runtime's memory service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from hal9.layer import Layer
from hal9.memory.rows import MAX_METADATA_CHARS, MAX_NEURON_ID_CHARS
from hal9.runtime.memory import MEMORY_KINDS, Memory, MemoryEntry, MemoryKind
from hal9.server.body import JSONRoute
from hal9.server.deps import RuntimeDep
from hal9.server.encoding import scrub
from hal9.server.schemas import RequestBody

router = APIRouter(prefix="/api/v1/memory", tags=["memory"], route_class=JSONRoute)

#: Most results one search returns, and the longest query read (a query is cut to its first terms anyway).
MAX_LIMIT = 100
MAX_QUERY_CHARS = 1_000
_ID_MAX = 2**63 - 1  # SQLite's integer range
_NO_MEMORY: dict[int | str, dict[str, Any]] = {
    503: {"description": "the runtime has no memory service, or it is stopping"}
}


async def get_memory(runtime: RuntimeDep) -> Memory:
    memory = runtime.services.get(Memory)
    if memory is None:
        raise HTTPException(503, "no memory service is configured; add services.memory = 'hal9.memory:SQLiteMemory'")
    return memory


MemoryDep = Annotated[Memory, Depends(get_memory)]


class StoreRequest(RequestBody):
    """An entry to store."""

    content: str = Field(
        min_length=1,
        pattern=r"\S",
        description="the text, searchable: at least one character that is not white space "
        "(over memory.max_content_chars characters: 413)",
    )
    neuron_id: str = Field(default="api", pattern=rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NEURON_ID_CHARS - 1}}}$")
    kind: MemoryKind = Field(default="signal", description=f"one of {', '.join(MEMORY_KINDS)} (else 422)")
    layer: Layer | None = Field(default=None, strict=False)
    metadata: dict[str, Any] = Field(
        default_factory=dict, description=f"any JSON object, at most {MAX_METADATA_CHARS} characters as JSON (else 422)"
    )
    importance: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)


class StoredView(BaseModel):
    id: int


class EntryView(BaseModel):
    id: int
    neuron_id: str
    layer: str | None
    kind: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: float
    last_accessed: float
    access_count: int
    score: float | None = Field(default=None, description="BM25 score in a search: higher is more relevant")

    @classmethod
    def of(cls, entry: MemoryEntry) -> EntryView:
        """The view of a stored entry; text it holds that JSON cannot carry (a lone surrogate, stored
        before the write path refused them) is scrubbed, so that reading it never fails."""
        return cls(
            id=entry.id,
            neuron_id=scrub(entry.neuron_id),
            layer=entry.layer,
            kind=entry.kind,
            content=scrub(entry.content),
            metadata=scrub(dict(entry.metadata)),
            importance=entry.importance,
            created_at=entry.created_at,
            last_accessed=entry.last_accessed,
            access_count=entry.access_count,
            score=entry.score,
        )


@router.post(
    "",
    status_code=201,
    response_model=StoredView,
    responses={
        413: {"description": "content over memory.max_content_chars characters, or a body larger than that allows"},
        **_NO_MEMORY,
    },
)
async def store_entry(body: StoreRequest, memory: MemoryDep, runtime: RuntimeDep) -> StoredView:
    """Store an entry; answers once it is durable, with its id. The memory service's refusal is a 422."""
    limit = runtime.config.memory.max_content_chars
    if len(body.content) > limit:
        raise HTTPException(413, f"content has {len(body.content)} characters; the limit is {limit}")
    entry_id = await memory.store(
        body.content,
        neuron_id=body.neuron_id,
        kind=body.kind,
        layer=body.layer.value if body.layer is not None else None,
        metadata=body.metadata,
        importance=body.importance,
    )
    return StoredView(id=entry_id)


@router.get("/search", response_model=list[EntryView], responses=_NO_MEMORY)
async def search_entries(
    memory: MemoryDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="free text; its words are the terms")],
    neuron_id: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[
        MemoryKind | None, Query(description=f"only entries of this kind: {', '.join(MEMORY_KINDS)}")
    ] = None,
    since: Annotated[float | None, Query(allow_inf_nan=False, description="created at or after (epoch s)")] = None,
    until: Annotated[float | None, Query(allow_inf_nan=False, description="created before (epoch s)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    match: Literal["all", "any"] = "all",
) -> list[EntryView]:
    """Full-text search, most relevant (BM25) first. Any text is a valid query."""
    found = await memory.search(q, neuron_id=neuron_id, kind=kind, since=since, until=until, limit=limit, match=match)
    return [EntryView.of(entry) for entry in found]


@router.get(
    "/{entry_id}", response_model=EntryView, responses={404: {"description": "no entry with this id"}, **_NO_MEMORY}
)
async def get_entry(entry_id: Annotated[int, Path(ge=1, le=_ID_MAX)], memory: MemoryDep) -> EntryView:
    """One entry by id."""
    entry = await memory.retrieve(entry_id)
    if entry is None:
        raise HTTPException(404, f"no memory entry with id {entry_id}")
    return EntryView.of(entry)


@router.delete(
    # Digits only: "/search" is no entry, so DELETE is not among the methods it allows (Allow).
    "/{entry_id:int}",
    status_code=204,
    response_class=Response,
    responses={
        404: {"description": "no entry with this id"},
        405: {"description": "the id is not digits: no entry is there, and only GET answers that path"},
        **_NO_MEMORY,
    },
)
async def forget_entry(entry_id: Annotated[int, Path(ge=1, le=_ID_MAX)], memory: MemoryDep) -> Response:
    """Forget one entry: deleted once this answers, no longer found nor recalled (in a cluster, on every server)."""
    if not await memory.forget(entry_id):
        raise HTTPException(404, f"no memory entry with id {entry_id}")
    return Response(status_code=204)
