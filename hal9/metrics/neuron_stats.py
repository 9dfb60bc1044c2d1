"""A neuron's counters and duration histogram, kept as plain numbers.

The Neuron base class writes them inline on every signal: a few integer adds and a
bisect, no lock, no ``labels()`` lookup. prometheus_client's children take a lock per
increment and loop over the buckets, a large share of the cost of a hop through a
trivial neuron. They are written only on the event loop; a scrape reads them
(possibly from another thread) and may see an observation in the buckets before it is in
the sum, never a count that goes backwards.
"""

from __future__ import annotations

from bisect import bisect_left

from hal9.metrics.buckets import SIGNAL_BUCKETS


def escape_label(value: str) -> str:
    """A label value as the text exposition format quotes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class NeuronStats:
    """Counts of one neuron: processed (success, error), durations, forwards per target."""

    __slots__ = ("duration_buckets", "duration_sum", "failed", "forwarded", "label", "succeeded")

    def __init__(self, neuron_id: str) -> None:
        #: ``neuron_id="..."`` escaped once, so a scrape formats no label values.
        self.label = escape_label(neuron_id)
        self.succeeded = 0
        self.failed = 0
        # One slot per bucket bound plus +Inf; not cumulative (the exposition sums them).
        self.duration_buckets = [0] * (len(SIGNAL_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.forwarded: dict[str, int] = {}

    def observe(self, seconds: float) -> None:
        """Record one process() duration (``bisect_left`` puts it under the first bound >= it)."""
        self.duration_buckets[bisect_left(SIGNAL_BUCKETS, seconds)] += 1
        self.duration_sum += seconds
