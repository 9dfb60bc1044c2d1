"""The memory service's state read at scrape time: entries per neuron and database bytes.

The service keeps these numbers current on the event loop (after each commit, forget and
retention run, and periodically for the file sizes); ``collect()`` only copies them, so a
scrape never queries the database or touches a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.metrics import families as fam

ENTRIES = fam.GAUGES_NAMED_TOTAL["memory_entries"]
#: The label of entries whose neuron is not one of the runtime's: a label value never comes from input.
OTHER = "other"


class EntryCounts:
    """Entries per neuron id, and the same folded onto a bounded label set for the exposition.

    Neuron ids that :meth:`track` was given (the runtime's neurons) are labels of their
    own; entries of any other id (an API client's, a removed neuron's) count under ``other``.
    """

    def __init__(self) -> None:
        self.by_neuron: dict[str, int] = {}
        self.labels: dict[str, int] = {OTHER: 0}
        #: Entries in all.
        self.total = 0

    def track(self, neuron_id: str) -> None:
        """Give ``neuron_id`` its own series (at zero if it has no entries yet)."""
        if neuron_id in self.labels:
            return
        count = self.by_neuron.get(neuron_id, 0)
        self.labels[OTHER] -= count
        self.labels[neuron_id] = count

    def untrack(self, neuron_id: str) -> None:
        """Fold ``neuron_id``'s series back into ``other`` (its neuron left the runtime)."""
        if neuron_id != OTHER and neuron_id in self.labels:
            self.labels[OTHER] += self.labels.pop(neuron_id)

    def add(self, neuron_id: str, delta: int) -> None:
        self.total += delta
        self.by_neuron[neuron_id] = self.by_neuron.get(neuron_id, 0) + delta
        if self.by_neuron[neuron_id] <= 0:
            del self.by_neuron[neuron_id]
        label = neuron_id if neuron_id in self.labels else OTHER
        self.labels[label] += delta

    def reset(self, counts: dict[str, int]) -> None:
        tracked = [label for label in self.labels if label != OTHER]
        self.by_neuron = {}
        self.labels = {OTHER: 0}
        self.total = 0
        for neuron_id in tracked:
            self.track(neuron_id)
        for neuron_id, count in counts.items():
            self.add(neuron_id, count)


class MemoryCollector(Collector):
    """Exposes ``hal9_memory_entries_total{neuron_id}`` and ``hal9_memory_database_bytes``."""

    def __init__(self, counts: EntryCounts) -> None:
        self.counts = counts
        self.database_bytes = 0

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(ENTRIES.name, ENTRIES.help, labels=ENTRIES.labels),
            GaugeMetricFamily(fam.MEMORY_DATABASE_BYTES.name, fam.MEMORY_DATABASE_BYTES.help),
        ]

    def collect(self) -> Iterable[Metric]:
        entries = GaugeMetricFamily(ENTRIES.name, ENTRIES.help, labels=ENTRIES.labels)
        # items() copied at C level by sorted(), safe if a scrape thread reads while the loop updates.
        for label, count in sorted(self.counts.labels.items()):
            entries.add_metric([label], float(count))
        size = GaugeMetricFamily(fam.MEMORY_DATABASE_BYTES.name, fam.MEMORY_DATABASE_BYTES.help)
        size.add_metric([], float(self.database_bytes))
        return [entries, size]
