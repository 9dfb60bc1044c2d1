"""The built-in neurons of the default network."""

from __future__ import annotations

import functools
from typing import Any, ClassVar, cast

import structlog
from pydantic import BaseModel, Field, field_validator

from hal9.errors import ToolCallFailed
from hal9.layer import Layer
from hal9.neurons import prompts
from hal9.runtime.llm import LLMResponse, ToolResult, Turn
from hal9.runtime.memory import Memory, MemoryEntry, RequestRecall
from hal9.runtime.neuron import Neuron
from hal9.runtime.signal import Signal
from hal9.runtime.tools import Tools
from hal9.support.replies import parse_reply

MAX_DIRECTIVES = 3
MAX_CONTENT_CHARS = 8_000
#: What of the signal is used as the memory search query (its first words are the terms anyway).
MEMORY_QUERY_CHARS = 1_000
#: Entries a request's shared recall keeps, from which each neuron on its path takes its share.
SHARED_RECALL_LIMIT = 12
#: Tool rounds per answer when the tool service does not say.
DEFAULT_TOOL_ROUNDS = 4

log = structlog.get_logger("hal9.neuron")


class LLMNeuron(Neuron):
    """A neuron that asks the LLM service, under its system prompt, about each signal.

    Subclasses set ``prompt`` and may override :meth:`build_prompt` and :meth:`interpret`.
    """

    prompt = ""
    #: Signals answered at once. A model call takes seconds, so the LLM service's own bound
    #: (``llm.max_concurrency``, the API's rate limits) is meant to be the limit, not the neuron.
    concurrency = 64
    #: With a memory service: how many of this neuron's memories join the prompt, and their
    #: total characters (each is cut to a share of it). 0 memories turns recall off.
    memory_results: ClassVar[int] = 3
    memory_chars: ClassVar[int] = 1_500

    def build_prompt(self, signal: Signal) -> str:
        """The user turn for this signal (bounded, so one huge input cannot blow the context)."""
        return str(signal.content)[:MAX_CONTENT_CHARS]

    async def recall(self, signal: Signal) -> list[MemoryEntry]:
        """The memories most relevant to the signal's request (BM25 over any of its words), this neuron's first.

        With a memory that recalls per request (:class:`~hal9.runtime.memory.RequestRecall`,
        as the built-in one does), the request is searched once, with the words of the first
        signal of its path that recalls, and every neuron on the path takes its share of the
        same entries: its own first, then the other neurons'. With any other memory, each
        signal searches this neuron's entries. Only called when the runtime has a memory
        service. A failing search is logged and gives no memories: the signal is still answered.
        """
        memory = self.runtime.services.get(Memory)
        if memory is None or self.memory_results <= 0:
            return []
        query = str(signal.content)[:MEMORY_QUERY_CHARS]
        try:
            if not _recalls_per_request(type(memory)):
                return await memory.search(query, neuron_id=self.id, limit=self.memory_results, match="any")
            recalls = cast("RequestRecall", memory)
            shared = await recalls.recall(query, trace_id=signal.trace_id, limit=SHARED_RECALL_LIMIT)
        except Exception as exc:  # noqa: BLE001 - recall is an aid; the signal is answered without it
            log.warning("memory.recall_failed", error=type(exc).__name__, detail=str(exc)[:500])
            return []
        own = [entry for entry in shared if entry.neuron_id == self.id]
        others = [entry for entry in shared if entry.neuron_id != self.id]
        return (own + others)[: self.memory_results]

    def with_memories(self, prompt: str, memories: list[MemoryEntry]) -> str:
        """The prompt with the memories before it (the request stays last), within ``memory_chars``."""
        share = max(1, self.memory_chars // max(1, len(memories)))
        lines = []
        for entry in memories:
            text = " ".join(entry.content.split())
            lines.append(f"- ({entry.kind}) {text if len(text) <= share else text[: share - 1] + '…'}")
        return "Relevant memories, most relevant first:\n" + "\n".join(lines) + "\n\nRequest:\n" + prompt

    def interpret(self, reply: str) -> Any:
        """Turn the model's reply into what this neuron returns."""
        return reply.strip()

    async def process(self, signal: Signal) -> Any:
        prompt = self.build_prompt(signal)
        if self.runtime.services.get(Memory) is not None:
            memories = await self.recall(signal)
            if memories:
                prompt = self.with_memories(prompt, memories)
        response = await self.complete_with_tools(system=self.system_prompt(), prompt=prompt)
        return self.interpret(response.text)

    async def complete_with_tools(self, *, system: str, prompt: str) -> LLMResponse:
        """Ask the LLM, offering the tools this layer may use, and run what it asks for.

        Without a tool service, or with no tools for this layer, this is one plain call.
        Otherwise each ``tool_use`` turn is run through the tool service and its results sent
        back, for at most ``tools.max_rounds`` rounds; a reply that still asks for tools after
        that is returned as it is (its text), with a warning.
        """
        tools = self.runtime.services.get(Tools)
        offered = await tools.definitions(self.layer) if tools is not None else ()
        if not offered or tools is None:
            return await self.llm.complete(system=system, prompt=prompt, layer=self.layer)
        max_rounds: int = getattr(getattr(tools, "settings", None), "max_rounds", DEFAULT_TOOL_ROUNDS)
        history: list[Turn] = []
        rounds = 0
        while True:
            response = await self.llm.complete(
                system=system, prompt=prompt, layer=self.layer, tools=offered, history=history
            )
            if not response.tool_uses:
                return response
            if rounds == max_rounds:
                log.warning("tools.rounds_exhausted", rounds=rounds)
                return response
            rounds += 1
            results = []
            for use in response.tool_uses:
                output = await tools.call(use.name, use.input, layer=self.layer)
                if output.is_error:
                    # The model hears of it and may answer around it; learning hears of it too.
                    self.note_failure(ToolCallFailed(use.name, output.text))
                results.append(ToolResult(use.id, output.text, output.is_error))
            history += [Turn("assistant", response.text, response.tool_uses), Turn("user", tool_results=tuple(results))]


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


@functools.cache
def _recalls_per_request(kind: type) -> bool:
    """Whether a memory service of this class recalls per request (an isinstance() of a protocol is slow)."""
    return issubclass(kind, RequestRecall)
