"""Layers of the hierarchy: L4 (strategic) at the top down to L1."""

from __future__ import annotations

from enum import StrEnum


class Layer(StrEnum):
    """A neuron's layer. The built-in network uses L4, L3 and L2; the rest are free for users.

    The value doubles as the ``layer`` metric label, so the label set stays bounded.
    """

    L9 = "L9"
    L8 = "L8"
    L7 = "L7"
    L6 = "L6"
    L5 = "L5"
    L4 = "L4"
    L3 = "L3"
    L2 = "L2"
    L1 = "L1"

    @property
    def level(self) -> int:
        """The layer's number: 4 for L4."""
        return int(self.value[1:])
