"""Request and response bodies of the API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from hal9.runtime.neuron import Neuron
from hal9.runtime.trace import TraceResult
from hal9.server.encoding import scrub


class RequestBody(BaseModel):
    """Base of every request body: strict, so a value is what the OpenAPI description says it is.

    ``true`` is not a number, nor ``0`` or ``"yes"`` a boolean, nor ``"0.5"`` a number; an
    integer is a number. Unknown fields are refused. An enum field takes its value's text:
    give it ``Field(strict=False)``, since strict pydantic wants an enum member there.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorMessage(BaseModel):
    """The body of an error answer: what went wrong (a 422 may carry a list instead, see hal9.server.errors)."""

    detail: str


class SignalRequest(RequestBody):
    """A request for the network."""

    content: str = Field(min_length=1, description="the request text")
    wait: bool = Field(
        default=False,
        description="answer with the result (200; 502 or 503 when it failed, 504 past the timeout), not at once (202)",
    )


class HopView(BaseModel):
    signal_id: str
    parent_id: str | None
    neuron_id: str
    layer: str
    status: Literal["success", "error"]
    started_at: float
    duration_seconds: float


class ErrorView(BaseModel):
    neuron_id: str
    signal_id: str
    error: str
    message: str


class SignalView(BaseModel):
    """A request's state: status, result, timings and its path through the neurons."""

    id: str
    status: Literal["pending", "completed", "partial", "failed"]
    outputs: list[Any]
    errors: list[ErrorView]
    created_at: float
    finished_at: float | None
    duration_seconds: float | None
    path: list[HopView]
    path_dropped: int = Field(description="hops beyond runtime.max_path_hops, not listed in path")

    @classmethod
    def of(cls, result: TraceResult) -> SignalView:
        # A snapshot of a pending trace carries "now" as its finish time; the API says null.
        return cls(
            id=result.id,
            status=result.status,
            outputs=[_jsonable(value) for value in result.outputs],
            errors=[
                ErrorView(neuron_id=e.neuron_id, signal_id=e.signal_id, error=e.error, message=e.message)
                for e in result.errors
            ],
            created_at=result.created_at,
            finished_at=result.finished_at,
            duration_seconds=result.duration,
            path=[
                HopView(
                    signal_id=h.signal_id,
                    parent_id=h.parent_id,
                    neuron_id=h.neuron_id,
                    layer=h.layer.value,
                    status=h.status,
                    started_at=h.started_at,
                    duration_seconds=h.duration,
                )
                for h in result.path
            ],
            path_dropped=result.path_dropped,
        )


class AcceptedView(BaseModel):
    id: str
    status: Literal["pending"] = "pending"


class NeuronView(BaseModel):
    id: str
    layer: str
    kind: str
    state: str
    healthy: bool
    queue_size: int
    mailbox_capacity: int
    processed: int
    failed: int
    restarts: int
    downstream: list[str]

    @classmethod
    def of(cls, neuron: Neuron) -> NeuronView:
        status = neuron.status
        return cls(
            id=neuron.id,
            layer=neuron.layer.value,
            kind=type(neuron).__name__,
            state=status.state.value,
            healthy=status.healthy,
            queue_size=status.queue_size,
            mailbox_capacity=status.mailbox_capacity,
            processed=status.processed,
            failed=status.failed,
            restarts=status.restarts,
            downstream=list(status.downstream),
        )


def _jsonable(value: Any) -> Any:
    """Outputs are whatever neurons returned: what JSON cannot carry is sent as its text, or scrubbed
    (:func:`~hal9.server.encoding.scrub`: a lone surrogate becomes U+FFFD, a number that is not finite null)."""
    try:
        return scrub(jsonable_encoder(value))
    except (TypeError, ValueError):
        return scrub(str(value))
