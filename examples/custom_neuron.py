"""Writing a neuron of your own: a reviewer at L2 behind the built-in strategic and design layers.

Run it:  python examples/custom_neuron.py "Write a haiku about queues"
Its test: examples/test_custom_neuron.py (run with pytest).
"""

from __future__ import annotations

import sys

import anyio

from hal9 import Config, Layer, Neuron, Runtime, Signal
from hal9.config import LLMConfig, MockLLMConfig
from hal9.neurons import DesignNeuron, StrategicNeuron

#: Only the LLM service, and the mock unpriced. A Config without data_dir writes no file anywhere: with
#: ANTHROPIC_API_KEY set the real API answers, and what it costs is counted against the budgets in
#: memory, for this run only (a server keeps it in data_dir/hal9.db).
CONFIG = Config(services={"llm": "hal9.llm:LLMService"}, llm=LLMConfig(mock=MockLLMConfig(priced=False)))


class Reviewer(Neuron):
    """Asks the LLM to review a design and returns a verdict with the word count of the design."""

    layer = Layer.L2
    prompt = "You review designs. Answer with one sentence: what is the biggest risk?"

    async def process(self, signal: Signal) -> dict[str, object]:
        design = str(signal.content)
        if not design.strip():
            # Raising fails this branch only; the runtime records it and moves on.
            raise ValueError("empty design")
        answer = await self.llm.complete(system=self.prompt, prompt=design, layer=self.layer)
        return {"review": answer.text, "design_words": len(design.split())}


def build_runtime() -> Runtime:
    """The built-in L4 and L3 neurons feeding our reviewer."""
    runtime = Runtime(CONFIG, neurons=[StrategicNeuron("strategic"), DesignNeuron("design"), Reviewer("reviewer")])
    runtime.connect("strategic", "design")
    runtime.connect("design", "reviewer")
    return runtime


async def main(request: str) -> None:
    async with build_runtime() as runtime:
        result = await runtime.ask(request)
        print(f"status: {result.status}")
        for output in result.outputs:
            print(output)


if __name__ == "__main__":
    anyio.run(main, " ".join(sys.argv[1:]) or "Design a rate limiter")
