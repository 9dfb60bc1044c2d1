"""Every metric family of the contract, in one place, registered per runtime."""

from hal9.metrics.buckets import API_BUCKETS, MEMORY_BUCKETS, SIGNAL_BUCKETS
from hal9.metrics.registry import MetricsRegistry

__all__ = ["API_BUCKETS", "MEMORY_BUCKETS", "SIGNAL_BUCKETS", "MetricsRegistry"]
