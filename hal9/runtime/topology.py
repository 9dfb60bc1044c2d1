"""The network's forward connections: a directed acyclic graph of neuron ids."""

from __future__ import annotations

from hal9.errors import TopologyError


class Topology:
    """Forward connections between neuron ids.

    Cycles are refused: a trace ends when every branch has ended, which a cycle could
    postpone forever.
    """

    def __init__(self) -> None:
        self._downstream: dict[str, list[str]] = {}

    def add(self, node: str) -> None:
        if node in self._downstream:
            raise TopologyError(f"neuron {node!r} already exists")
        self._downstream[node] = []

    def remove(self, node: str) -> list[str]:
        """Remove a node and its edges; returns the nodes that forwarded to it."""
        self._require(node)
        del self._downstream[node]
        upstream = [src for src, targets in self._downstream.items() if node in targets]
        for src in upstream:
            self._downstream[src].remove(node)
        return upstream

    def connect(self, source: str, target: str) -> None:
        self._require(source)
        self._require(target)
        if target in self._downstream[source]:
            return
        if source == target or self._reaches(target, source):
            raise TopologyError(f"connecting {source!r} -> {target!r} would make a cycle")
        self._downstream[source].append(target)

    def downstream(self, node: str) -> tuple[str, ...]:
        return tuple(self._downstream[node])

    def upstream(self, node: str) -> tuple[str, ...]:
        return tuple(src for src, targets in self._downstream.items() if node in targets)

    def entries(self) -> tuple[str, ...]:
        """Nodes nothing forwards to: where a request enters."""
        targets = {t for ts in self._downstream.values() for t in ts}
        return tuple(node for node in self._downstream if node not in targets)

    def edges(self) -> list[tuple[str, str]]:
        return [(src, dst) for src, targets in self._downstream.items() for dst in targets]

    def _reaches(self, start: str, goal: str) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(self._downstream[node])
        return False

    def _require(self, node: str) -> None:
        if node not in self._downstream:
            raise TopologyError(f"unknown neuron {node!r}")
