"""Histogram bucket sets (upper bounds in seconds), exactly as the metrics contract gives them."""

from __future__ import annotations

API_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
SIGNAL_BUCKETS: tuple[float, ...] = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0)
MEMORY_BUCKETS: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1, 0.5, 1.0)
