"""Backward propagation along a trace: an error at some hops, walked back up the parent links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hal9.runtime.trace import Hop


def output_hops(path: Sequence[Hop]) -> list[Hop]:
    """The hops nothing was forwarded from: where a request's results (or its failed branches) came out."""
    parents = {hop.parent_id for hop in path}
    return [hop for hop in path if hop.signal_id not in parents]


def failed_hops(path: Sequence[Hop]) -> list[Hop]:
    """The hops whose ``process()`` raised."""
    return [hop for hop in path if hop.status == "error"]


def shared(hops: Sequence[Hop], error: float) -> dict[str, float]:
    """``error`` split evenly among ``hops``, by signal id (the sources of one propagation)."""
    if not hops:
        return {}
    share = error / len(hops)
    return {hop.signal_id: share for hop in hops}


def propagate(path: Sequence[Hop], sources: Mapping[str, float], decay: float) -> dict[str, float]:
    """The error reaching each neuron of ``path``.

    Each source hop's error counts for its neuron in full; its parent hop (the hop that
    produced its signal) gets ``decay`` times that, and so on up to the request. A neuron
    seen at several hops sums them. Sources split one error among themselves (see
    :func:`shared`), so a chain of neurons gets ``e, e*decay, e*decay**2`` whatever the
    fan-out between them, and neurons side by side in one layer share the error.

    Args:
        path: a finished trace's hops.
        sources: error per signal id of the hops where it arises.
        decay: the share passed up per hop, in (0, 1].

    Returns:
        Error per neuron id, each at most 1.
    """
    by_signal = {hop.signal_id: hop for hop in path}
    errors: dict[str, float] = {}
    for signal_id, error in sources.items():
        hop = by_signal.get(signal_id)
        # A path cut at runtime.max_path_hops may lack parents: the walk stops where it ends.
        steps = 0
        while hop is not None and steps <= len(path):
            errors[hop.neuron_id] = errors.get(hop.neuron_id, 0.0) + error
            error *= decay
            steps += 1
            hop = by_signal.get(hop.parent_id) if hop.parent_id is not None else None
    return {neuron_id: min(1.0, error) for neuron_id, error in errors.items()}
