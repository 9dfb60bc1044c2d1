"""The learning state read at scrape time: each neuron's error gradient and effectiveness."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hal9.learning.state import NeuronLearning
from hal9.metrics import families as fam


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
