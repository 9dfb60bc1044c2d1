"""The baseline of ``benchmarks.http``: a bare FastAPI route with the same request body as HAL9's.

Run by the benchmark as ``python -m uvicorn benchmarks._bare_app:app --host 127.0.0.1 --port N``
(with the uvicorn settings ``hal9 serve`` uses). ``POST /api/v1/signals`` validates the body
with a pydantic model shaped like ``hal9.server.schemas.SignalRequest`` and answers 200 with a
small JSON; no runtime, no neurons, no memory: what any FastAPI JSON endpoint costs.
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

app = FastAPI()
_ids = itertools.count(1)


class SignalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1)
    wait: bool = False


@app.post("/api/v1/signals")
async def submit_signal(body: SignalRequest) -> JSONResponse:
    request_id = f"{next(_ids):022x}"
    return JSONResponse(
        {"id": request_id, "status": "completed", "outputs": [body.content], "errors": []},
        status_code=200,
        headers={"Location": f"/api/v1/signals/{request_id}"},
    )


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
