"""With ``wait: true``, a request that failed answers a failure's status (issue case 8).

It used to answer 200 with ``"status": "failed"`` whatever happened: the LLM unreachable, a
shutdown that cut the request short. Now: 502 when the network failed it, 503 (with
Retry-After) when the server stopped first, with the same body; partial stays 200 and a
timeout 504.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from hal9 import Layer, Runtime
from hal9.runtime.trace import BranchError, TraceResult
from hal9.server import create_app
from hal9.server.signals import result_status
from tests.server.helpers import make_config
from tests.support import Stuck

SIGNALS = "/api/v1/signals"


def result(status: Any, *errors: str) -> TraceResult:
    """A finished result with one branch error per name."""
    branch_errors = tuple(BranchError("n", f"s{i}", error, "it failed") for i, error in enumerate(errors))
    outputs = ("done",) if status != "failed" else ()
    return TraceResult("t", status, outputs, branch_errors, (), 0, 1.0, 2.0)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (result("completed"), 200),
        (result("partial", "LLMUnavailable"), 200),
        (result("failed", "LLMUnavailable"), 502),
        (result("failed", "LLMTimeout", "LLMRateLimited"), 502),
        (result("failed", "BudgetExceeded"), 502),
        (result("failed", "PeerUnavailable"), 502),
        (result("failed", "RemoteRejected"), 502),
        (result("failed", "ValueError"), 502),
        (result("failed", "RuntimeNotRunning"), 503),
        (result("failed", "LLMUnavailable", "RuntimeNotRunning"), 503),
    ],
)
def test_the_status_of_a_result(outcome: TraceResult, status: int) -> None:
    assert result_status(outcome) == status


@pytest.fixture
def unreachable() -> Iterator[str]:
    """The URL of a port on 127.0.0.1 that is bound but never listens: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.anyio
async def test_an_unreachable_llm_fails_the_request_with_502_and_the_result(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, unreachable: str
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", unreachable)
    config = make_config(data_dir=str(tmp_path), llm={"mode": "real", "max_retries": 0})
    async with Runtime(config) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(SIGNALS, json={"content": "Build a todo app", "wait": True})

    assert response.status_code == 502
    body = response.json()
    assert (body["status"], body["outputs"]) == ("failed", [])
    assert [error["error"] for error in body["errors"]] == ["LLMUnavailable"]
    assert response.headers["location"] == f"{SIGNALS}/{body['id']}"


@pytest.mark.anyio
async def test_a_shutdown_before_the_result_is_503_with_retry_after_and_the_result() -> None:
    stuck = Stuck("stuck", layer=Layer.L4)
    config = make_config(runtime={"drain_timeout": 0.01}, server={"retry_after_seconds": 7})
    runtime = Runtime(config, neurons=[stuck])
    app = create_app(runtime)
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def wait_for_it() -> None:
            answers.append(await client.post(SIGNALS, json={"content": "hold", "wait": True}))

        # The task group outlives the runtime: once the runtime has stopped (its drain timed out),
        # the request still waiting gets its answer.
        async with anyio.create_task_group() as tasks, runtime:
            tasks.start_soon(wait_for_it)
            with anyio.fail_after(5):
                await stuck.entered.wait()

    [response] = answers
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    body = response.json()
    assert body["status"] == "failed"
    assert [(error["neuron_id"], error["error"]) for error in body["errors"]] == [("runtime", "RuntimeNotRunning")]


@pytest.mark.anyio
async def test_the_failure_statuses_are_described_with_the_result() -> None:
    async with Runtime(make_config()) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            described = (await client.get("/openapi.json")).json()

    responses = described["paths"][SIGNALS]["post"]["responses"]
    view = {"$ref": "#/components/schemas/SignalView"}
    assert responses["200"]["content"]["application/json"]["schema"] == view
    assert responses["502"]["content"]["application/json"]["schema"] == view
    assert view in responses["503"]["content"]["application/json"]["schema"]["anyOf"]
