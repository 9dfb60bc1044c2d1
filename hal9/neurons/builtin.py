"""The built-in neurons of the default network."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator

from hal9.neurons import prompts
from hal9.neurons.parsing import parse_reply
from hal9.runtime.layer import Layer
from hal9.runtime.neuron import Neuron
from hal9.runtime.signal import Signal

MAX_DIRECTIVES = 3
MAX_CONTENT_CHARS = 8_000


class LLMNeuron(Neuron):
    """A neuron that asks the LLM service, under its system prompt, about each signal.

    Subclasses set ``prompt`` and may override :meth:`build_prompt` and :meth:`interpret`.
    """

    prompt = ""

    def build_prompt(self, signal: Signal) -> str:
        """The user turn for this signal (bounded, so one huge input cannot blow the context)."""
        return str(signal.content)[:MAX_CONTENT_CHARS]

    def interpret(self, reply: str) -> Any:
        """Turn the model's reply into what this neuron returns."""
        return reply.strip()

    async def process(self, signal: Signal) -> Any:
        response = await self.llm.complete(system=self.prompt, prompt=self.build_prompt(signal), layer=self.layer)
        return self.interpret(response.text)


class _Directives(BaseModel):
    directives: list[str] = Field(min_length=1)

    @field_validator("directives")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(v.strip() for v in values if v.strip()))
        if not cleaned:
            raise ValueError("no non-empty directive")
        return cleaned


class _Design(BaseModel):
    design: str = Field(min_length=1)


class _Answer(BaseModel):
    answer: str = Field(min_length=1)


class StrategicNeuron(LLMNeuron):
    """L4: breaks a request into 2-3 directives, fanned out to the design layer."""

    layer = Layer.L4
    prompt = prompts.STRATEGIC
    max_directives: ClassVar[int] = MAX_DIRECTIVES

    def interpret(self, reply: str) -> list[str]:
        parsed = parse_reply(reply, _Directives)
        if parsed is None:
            # An unstructured reply is still a usable single directive.
            return [reply.strip() or "(empty directive)"]
        return parsed.directives[: self.max_directives]


class DesignNeuron(LLMNeuron):
    """L3: turns a directive into a design."""

    layer = Layer.L3
    prompt = prompts.DESIGN

    def interpret(self, reply: str) -> str:
        parsed = parse_reply(reply, _Design)
        return parsed.design if parsed is not None else reply.strip()


class ImplementationNeuron(LLMNeuron):
    """L2: produces the concrete answer."""

    layer = Layer.L2
    prompt = prompts.IMPLEMENTATION

    def interpret(self, reply: str) -> str:
        parsed = parse_reply(reply, _Answer)
        return parsed.answer if parsed is not None else reply.strip()
