"""The learning service's metrics: its counters, and the state read at scrape time (gradients, effectiveness)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.learning.patterns import PATTERN_TYPES
from hal9.learning.state import NeuronLearning
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry

#: The ``type`` label values of ``hal9_learning_adjustments_total``: an adjustment kept or rolled back.
ADJUSTMENT_TYPES = ("success", "failure")


class LearningCounters:
    """Learning cycles, adjustments judged (per neuron and type) and patterns identified (per type).

    Args:
        metrics: the registry the counters are registered in.
    """

    def __init__(self, metrics: MetricsRegistry) -> None:
        self.cycles = metrics.counter(fam.LEARNING_CYCLES.name, fam.LEARNING_CYCLES.help)
        self.adjustments = metrics.counter(
            fam.LEARNING_ADJUSTMENTS.name, fam.LEARNING_ADJUSTMENTS.help, fam.LEARNING_ADJUSTMENTS.labels
        )
        self.patterns = metrics.counter(
            fam.LEARNING_PATTERNS.name, fam.LEARNING_PATTERNS.help, fam.LEARNING_PATTERNS.labels
        )
        for pattern in PATTERN_TYPES:
            self.patterns.labels(pattern)  # a bounded set: every series exists at zero

    def add_neuron(self, neuron_id: str) -> None:
        """Create the neuron's adjustment series (at zero)."""
        for kind in ADJUSTMENT_TYPES:
            self.adjustments.labels(neuron_id, kind)

    def remove_neuron(self, neuron_id: str) -> None:
        """Remove the neuron's adjustment series, so none outlives its neuron."""
        for kind in ADJUSTMENT_TYPES:
            with contextlib.suppress(KeyError):  # no series: the neuron never had state
                self.adjustments.remove(neuron_id, kind)


class LearningCollector(Collector):
    """Exposes ``hal9_learning_error_gradient`` and ``hal9_learning_effectiveness_ratio`` per neuron.

    Only neurons of the runtime have state, so the label values are the topology's ids. A
    neuron without outcomes yet has no effectiveness series: its success rate is undefined,
    and a 0 would look like a neuron that always fails.
    """

    def __init__(self, states: Callable[[], Mapping[str, NeuronLearning]]) -> None:
        self._states = states

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        gradient, effectiveness = fam.LEARNING_GRADIENT, fam.LEARNING_EFFECTIVENESS
        return (
            GaugeMetricFamily(gradient.name, gradient.help, labels=gradient.labels),
            GaugeMetricFamily(effectiveness.name, effectiveness.help, labels=effectiveness.labels),
        )

    def collect(self) -> Iterable[Metric]:
        gradient, effectiveness = self._families()
        # The mapping is replaced, never mutated, when neurons come and go: safe to read from a thread.
        for neuron_id, state in sorted(self._states().items()):
            gradient.add_metric([neuron_id], state.gradient)
            rate = state.effectiveness
            if rate is not None:
                effectiveness.add_metric([neuron_id], rate)
        return [gradient, effectiveness]
