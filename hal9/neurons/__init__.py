"""The built-in neurons: strategic (L4), design (L3) and implementation (L2)."""

from hal9.neurons.builtin import DesignNeuron, ImplementationNeuron, LLMNeuron, StrategicNeuron

__all__ = ["DesignNeuron", "ImplementationNeuron", "LLMNeuron", "StrategicNeuron"]
