"""The neurons of the network and their state."""

from __future__ import annotations

from fastapi import APIRouter

from hal9.server.deps import RuntimeDep
from hal9.server.schemas import NeuronView

router = APIRouter(prefix="/api/v1/neurons", tags=["neurons"])


@router.get("", response_model=list[NeuronView])
async def list_neurons(runtime: RuntimeDep) -> list[NeuronView]:
    """Every neuron: state, health, queue and counts."""
    return [NeuronView.of(actor.neuron) for actor in runtime.neuron_snapshot]


@router.get("/{neuron_id}", response_model=NeuronView, responses={404: {}})
async def get_neuron(neuron_id: str, runtime: RuntimeDep) -> NeuronView:
    """One neuron."""
    return NeuronView.of(runtime.neuron(neuron_id))
