"""One accepted request as the request store keeps it, and the views it is answered with.

A record is written when the API accepts a request (status ``accepted``) and rewritten when the
request ends (its final status and result). The result is kept as the API's ``SignalView`` JSON,
made by the server (this package imports nothing of it), so a record read back after a restart
answers ``GET /api/v1/signals/{id}`` exactly as the live trace did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hal9.errors import Hal9Error

#: The error of a request whose server stopped (a crash, a kill) before it finished.
INTERRUPTED = "Interrupted"
INTERRUPTED_MESSAGE = "the server stopped before the request finished; nothing ran after that"
#: The statuses of a record: ``accepted`` until it ends, then the request's own status.
STATUSES = frozenset({"accepted", "completed", "partial", "failed"})
#: What a request id may look like to be looked up (the ids the runtime makes are hex).
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class RequestStoreUnavailable(Hal9Error):
    """The request store could not record a request (its disk, or JetStream, failed): it was not accepted."""


def valid_id(request_id: str) -> bool:
    """Whether ``request_id`` can be a request's id (anything else is answered 404 without a lookup)."""
    return _ID.match(request_id) is not None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as stored.

    Attributes:
        id: the request's trace id.
        status: ``accepted`` while it runs, then ``completed``, ``partial`` or ``failed``.
        server_id: the server that accepted it.
        instance: that server's run (a new one each start): an ``accepted`` record of a run
            that is over was interrupted.
        created_at: when it was accepted (Unix time).
        finished_at: when it ended; None while accepted.
        result: its final ``SignalView`` JSON; None while accepted.
    """

    id: str
    status: str
    server_id: str
    instance: str
    created_at: float
    finished_at: float | None = None
    result: dict[str, Any] | None = None

    @property
    def open(self) -> bool:
        return self.status == "accepted"

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "status": self.status,
                "server_id": self.server_id,
                "instance": self.instance,
                "created_at": self.created_at,
                "finished_at": self.finished_at,
                "result": self.result,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RequestRecord:
        """Parse a stored record; raises ValueError on anything else."""
        try:
            value = json.loads(data)
            record = cls(
                str(value["id"]),
                str(value["status"]),
                str(value["server_id"]),
                str(value["instance"]),
                float(value["created_at"]),
                None if value["finished_at"] is None else float(value["finished_at"]),
                value["result"] if isinstance(value["result"], dict) else None,
            )
        except (UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a request record: {exc!r}") from None
        if record.status not in STATUSES:
            raise ValueError(f"not a request record: status {record.status!r}")
        return record

    def finished(self, result: dict[str, Any], at: float) -> RequestRecord:
        """This record ended with ``result`` (a SignalView JSON) at ``at``."""
        return RequestRecord(self.id, str(result["status"]), self.server_id, self.instance, self.created_at, at, result)

    def interrupted(self, at: float) -> RequestRecord:
        """This record, failed ``Interrupted`` at ``at``: its server's run ended before it did."""
        return self.finished(interrupted_view(self, at), at)


def pending_view(record: RequestRecord) -> dict[str, Any]:
    """The SignalView JSON of a request still running (on this server or another)."""
    return _view(record, "pending", None, [])


def interrupted_view(record: RequestRecord, at: float) -> dict[str, Any]:
    """The SignalView JSON of a request its server's crash (or kill) interrupted."""
    error = {"neuron_id": "runtime", "signal_id": record.id, "error": INTERRUPTED, "message": INTERRUPTED_MESSAGE}
    return _view(record, "failed", at, [error])


def _view(record: RequestRecord, status: str, at: float | None, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": status,
        "outputs": [],
        "errors": errors,
        "created_at": record.created_at,
        "finished_at": at,
        "duration_seconds": None if at is None else at - record.created_at,
        "path": [],
        "path_dropped": 0,
    }
