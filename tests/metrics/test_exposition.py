"""The runtime's own exposition: what a scrape returns, rendered on the loop or in one go."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9 import Layer, Runtime
from hal9.metrics.buckets import SIGNAL_BUCKETS
from hal9.metrics.neuron_stats import NeuronStats
from hal9.metrics.runtime_collector import CHUNK
from tests.support import Echo, config

# Values that change between two renders by themselves.
_MOVING = {"hal9_server_uptime_seconds", "hal9_server_memory_bytes"}


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        if family.name not in _MOVING
        for s in family.samples
    }


@pytest.mark.anyio
async def test_render_async_gives_the_same_samples_as_render_for_a_network_bigger_than_a_chunk() -> None:
    """The scrape path (pieces with checkpoints) and the one-go render agree, sample for sample."""
    neurons = [Echo(f"n{i}") for i in range(CHUNK + 7)]
    async with Runtime(config(), neurons=neurons) as rt:
        rt.connect("n0", "n1")
        rt.connect("n1", "n2")
        await rt.ask("x")
        in_pieces = await rt.metrics.render_async()
        at_once = rt.metrics.render()

    assert _samples(in_pieces) == _samples(at_once)
    names = {name for name, _ in _samples(at_once)}
    assert {"hal9_neuron_health", "hal9_signals_processed_total", "hal9_signals_forwarded_total"} <= names
    health = [key for key in _samples(at_once) if key[0] == "hal9_neuron_health"]
    assert len(health) == len(neurons)


@pytest.mark.anyio
async def test_a_neuron_id_with_quotes_backslashes_and_newlines_is_escaped_and_round_trips() -> None:
    """Ids set in code are not validated like config ids; the exposition still parses and keeps them exact."""
    odd = 'we"ird\\id\nx'
    async with Runtime(config(), neurons=[Echo(odd, layer=Layer.L3), Echo("plain")]) as rt:
        rt.connect(odd, "plain")
        await rt.ask("x")
        text = await rt.metrics.render_async()

    samples = _samples(text)
    key = ("hal9_signals_processed_total", (("layer", "L3"), ("neuron_id", odd), ("status", "success")))
    assert samples[key] == 1
    forwarded = ("hal9_signals_forwarded_total", (("from_neuron", odd), ("to_neuron", "plain")))
    assert samples[forwarded] == 1


def test_histogram_buckets_are_inclusive_upper_bounds_and_cumulative_in_the_exposition() -> None:
    """An observation equal to a bound counts under that bound (le), beyond the last only under +Inf."""
    stats = NeuronStats("n")
    stats.observe(SIGNAL_BUCKETS[0])  # exactly 0.001
    stats.observe(0.002)
    stats.observe(1_000.0)

    assert stats.duration_buckets[0] == 1
    assert stats.duration_buckets[1] == 1
    assert stats.duration_buckets[-1] == 1
    assert sum(stats.duration_buckets) == 3
    assert stats.duration_sum == pytest.approx(1_000.003)
