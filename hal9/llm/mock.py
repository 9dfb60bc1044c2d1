"""A deterministic LLM: no network, scripted replies or per-layer templates."""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import anyio

from hal9.config import MockReply
from hal9.layer import Layer
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.llm import LLMResponse, ToolSpec, ToolUse, Turn
from hal9.runtime.service import OperationMetrics, Service

if TYPE_CHECKING:
    from hal9.config import Config

CLAUDE_OPERATIONS = OperationMetrics(fam.CLAUDE_CALLS, fam.CLAUDE_DURATION)
_SUBJECT_CHARS = 160


def estimate_tokens(text: str) -> int:
    """About four characters a token, as Anthropic's guidance for English text; at least 1."""
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True, slots=True)
class LLMCall:
    """A call the mock answered, kept so tests can see the prompts actually sent."""

    system: str
    prompt: str
    layer: Layer | None
    reply: str
    tools: tuple[str, ...] = ()
    history: tuple[Turn, ...] = ()
    tool_uses: tuple[ToolUse, ...] = ()


def _subject(prompt: str) -> str:
    """The request a prompt is about: its last non-empty line, shortened."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    subject = lines[-1] if lines else "the request"
    return subject if len(subject) <= _SUBJECT_CHARS else subject[: _SUBJECT_CHARS - 1] + "…"


def template_reply(prompt: str, layer: Layer | None) -> str:
    """The built-in reply for a layer: the JSON the built-in L4 and L3 neurons parse, plain text below."""
    subject = _subject(prompt)
    if layer is Layer.L4:
        directives = [f"Clarify the goal and constraints of: {subject}", f"Design the approach for: {subject}"]
        # Longer requests get a third directive, so fan-out varies with the input.
        if len(subject.split()) > 6:
            directives.append(f"Define how to verify the result of: {subject}")
        return json.dumps({"directives": directives})
    if layer is Layer.L3:
        return json.dumps({"design": f"Components, interfaces and steps for: {subject}"})
    return f"Implemented: {subject}"


class MockLLM(Service):
    """Answers at once (or after ``latency`` seconds), deterministically, with no network.

    A call is answered by the first of ``replies`` whose layer and trigger match (in the
    order given), else by :func:`template_reply`. Token counts are estimated from the
    text. Calls are measured as ``mode="mock"`` in the Claude families.

    Args:
        replies: scripted replies, checked in order.
        model: the model name reported in metrics.
        latency: simulated API latency in seconds.
        max_concurrency: calls in their latency at once, as the real service bounds calls in
            flight (``llm.max_concurrency``); more wait for a slot.
        max_tokens: the completion cap when a call gives none (replies are cut to it).
        keep_calls: how many recent calls to keep in :attr:`calls`.
    """

    name = "llm"
    operation_metrics = CLAUDE_OPERATIONS

    def __init__(
        self,
        replies: Iterable[MockReply] = (),
        *,
        model: str = "mock-claude",
        latency: float = 0.0,
        max_concurrency: int = 8,
        max_tokens: int = 1024,
        keep_calls: int = 256,
    ) -> None:
        self.replies = tuple(replies)
        self.model = model
        self.latency = latency
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.max_tokens = max_tokens
        self.calls: deque[LLMCall] = deque(maxlen=keep_calls)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        mock = config.llm.mock
        return cls(
            mock.replies,
            model=mock.model,
            latency=mock.latency_seconds,
            max_concurrency=config.llm.max_concurrency,
            max_tokens=config.llm.max_tokens,
        )

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        tokens = metrics.counter(fam.CLAUDE_TOKENS.name, fam.CLAUDE_TOKENS.help, fam.CLAUDE_TOKENS.labels)
        self._prompt_tokens = tokens.labels("prompt", self.model)
        self._completion_tokens = tokens.labels("completion", self.model)
        self.measure(mode="mock", model=self.model)  # series exist at zero from the start

    def reply_for(self, prompt: str, layer: Layer | None, tool_round: int = 0) -> str:
        """The text the first matching rule (or the template) gives for the ``tool_round``-th call.

        Override to answer in code (a model that follows its system prompt, say).
        """
        rule = self.rule_for(prompt, layer, tool_round)
        return rule.reply if rule is not None else template_reply(prompt, layer)

    def rule_for(self, prompt: str, layer: Layer | None, tool_round: int = 0) -> MockReply | None:
        """The first scripted reply whose layer, trigger and tool round match the call, if any."""
        for rule in self.replies:
            if (
                (rule.layer is None or rule.layer == layer)
                and (rule.trigger is None or rule.trigger in prompt)
                and rule.tool_round == tool_round
            ):
                return rule
        return None

    async def complete(
        self,
        *,
        system: str,
        prompt: str,
        layer: Layer | None = None,
        max_tokens: int | None = None,
        tools: Sequence[ToolSpec] = (),
        history: Sequence[Turn] = (),
    ) -> LLMResponse:
        async with self.measure(mode="mock", model=self.model):
            if self.latency:
                # Without latency nothing waits, so there is nothing to bound.
                async with self.limiter:
                    await anyio.sleep(self.latency)
            tool_round = sum(1 for turn in history if turn.tool_results)
            rule = self.rule_for(prompt, layer, tool_round)
            # Through reply_for, so a subclass that answers in code is asked for every text.
            text = self.reply_for(prompt, layer, tool_round)
            latest = next((turn for turn in reversed(history) if turn.tool_results), None)
            if latest is not None and "{tool_result}" in text:
                text = text.replace("{tool_result}", "\n".join(result.content for result in latest.tool_results))
            offered = tuple(tool.name for tool in tools)
            uses: tuple[ToolUse, ...] = ()
            # A scripted tool call is made only if the tool was offered, as a real model would.
            if rule is not None and rule.tool_use is not None and rule.tool_use.name in offered:
                uses = (ToolUse(f"toolu_mock_{len(history)}", rule.tool_use.name, dict(rule.tool_use.input)),)
            stop_reason = "tool_use" if uses else "end_turn"
            max_tokens = self.max_tokens if max_tokens is None else max_tokens
            if estimate_tokens(text) > max_tokens:
                text, stop_reason, uses = text[: max_tokens * 4], "max_tokens", ()
            self.calls.append(LLMCall(system, prompt, layer, text, offered, tuple(history), uses))
            history_text = sum(estimate_tokens(_turn_text(turn)) for turn in history)
            tools_text = sum(estimate_tokens(json.dumps(tool.as_anthropic())) for tool in tools)
            response = LLMResponse(
                text=text,
                model=self.model,
                prompt_tokens=estimate_tokens(system) + estimate_tokens(prompt) + history_text + tools_text,
                completion_tokens=estimate_tokens(text) + sum(estimate_tokens(json.dumps(u.input)) for u in uses),
                stop_reason=stop_reason,
                tool_uses=uses,
            )
        self._prompt_tokens.inc(response.prompt_tokens)
        self._completion_tokens.inc(response.completion_tokens)
        return response


def _turn_text(turn: Turn) -> str:
    """What a turn adds to a prompt, for the token estimate."""
    parts = [turn.text]
    parts.extend(f"{use.name} {json.dumps(use.input)}" for use in turn.tool_uses)
    parts.extend(result.content for result in turn.tool_results)
    return "\n".join(parts)
