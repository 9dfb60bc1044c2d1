"""Gradients walk back the parent links from the hops where the error arises, decaying per hop."""

from __future__ import annotations

import pytest

from hal9 import Hop, Layer
from hal9.learning import output_hops, propagate
from hal9.learning.gradients import failed_hops, shared


def hop(signal_id: str, parent: str | None, neuron: str, layer: Layer, status: str = "success") -> Hop:
    return Hop(signal_id, parent, neuron, layer, status, 0.0, 0.0)  # type: ignore[arg-type]


#: L4 fans out into two directives, each designed and implemented: 1 + 2 + 2 hops.
FANNED = [
    hop("r", None, "strategic", Layer.L4),
    hop("d1", "r", "design", Layer.L3),
    hop("d2", "r", "design", Layer.L3),
    hop("i1", "d1", "implementation", Layer.L2),
    hop("i2", "d2", "implementation", Layer.L2),
]


@pytest.mark.parametrize("decay", [0.5, 0.25, 1.0])
def test_a_chain_gets_the_error_decayed_once_per_layer_whatever_the_fan_out(decay: float) -> None:
    errors = propagate(FANNED, shared(output_hops(FANNED), 0.8), decay)
    assert errors == pytest.approx({"implementation": 0.8, "design": 0.8 * decay, "strategic": 0.8 * decay**2})


def test_neurons_side_by_side_share_the_error() -> None:
    path = [
        hop("r", None, "strategic", Layer.L4),
        hop("a", "r", "reviewer-a", Layer.L2),
        hop("b", "r", "reviewer-b", Layer.L2),
    ]
    errors = propagate(path, shared(output_hops(path), 1.0), 0.5)
    assert errors == pytest.approx({"reviewer-a": 0.5, "reviewer-b": 0.5, "strategic": 0.5})


def test_a_failed_branch_is_the_source_and_only_its_ancestors_share_the_error() -> None:
    path = [*FANNED[:4], hop("i2", "d2", "implementation", Layer.L2, "error")]
    path.append(hop("x", "d1", "other", Layer.L2))
    (failed,) = failed_hops(path)
    errors = propagate(path, shared([failed], 1.0), 0.5)
    # The L2 neuron that failed, its design hop and the strategic hop; not the sibling "other".
    assert errors == pytest.approx({"implementation": 1.0, "design": 0.5, "strategic": 0.25})


def test_the_walk_stops_where_a_cut_path_ends_and_errors_are_capped_at_one() -> None:
    path = [hop("d1", "missing", "design", Layer.L3), hop("i1", "d1", "implementation", Layer.L2)]
    assert propagate(path, {"i1": 1.0}, 1.0) == {"implementation": 1.0, "design": 1.0}
    assert propagate(path, {"i1": 0.7, "d1": 0.7}, 1.0) == {"implementation": 0.7, "design": 1.0}
    assert propagate(path, {"unknown": 1.0}, 0.5) == {}
    assert shared([], 1.0) == {}
