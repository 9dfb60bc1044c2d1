"""Durable records of the requests the API accepts: SQLite on one server, JetStream in a cluster."""

from hal9.requests.record import INTERRUPTED as INTERRUPTED
from hal9.requests.record import RequestRecord as RequestRecord
from hal9.requests.record import RequestStoreUnavailable as RequestStoreUnavailable
from hal9.requests.service import RequestLog as RequestLog
from hal9.requests.service import request_log as request_log

__all__ = ["INTERRUPTED", "RequestLog", "RequestRecord", "RequestStoreUnavailable", "request_log"]
