"""A deterministic LLM: no network, scripted replies or per-layer templates."""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio

from hal9.config import LLMConfig, MockReply
from hal9.layer import Layer
from hal9.llm.budget import PERIODS, BudgetCollector, SpendTracker
from hal9.llm.ledger import SpendLedger
from hal9.llm.pricing import PriceTable, Usage
from hal9.llm.shared_budget import shared_tracker
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.llm import LLMResponse, ToolSpec, ToolUse, Turn
from hal9.runtime.service import OperationMetrics, Service

if TYPE_CHECKING:
    from prometheus_client import Counter

    from hal9.config import Config
    from hal9.runtime.runtime import Runtime

CLAUDE_OPERATIONS = OperationMetrics(fam.CLAUDE_CALLS, fam.CLAUDE_DURATION)
_SUBJECT_CHARS = 160
#: The runtime's SQLite file, where the spend ledger is kept.
DATABASE_FILE = "hal9.db"


def layer_route(settings: LLMConfig, layer: Layer | None, max_tokens: int | None) -> tuple[str, int]:
    """The model and completion cap of a call from ``layer``: ``llm.layers``, else ``llm.model``."""
    chosen = settings.layers.get(layer) if layer is not None else None
    model = chosen.model if chosen is not None else settings.model
    default_cap = chosen.max_tokens if chosen is not None and chosen.max_tokens else settings.max_tokens
    return model, max_tokens if max_tokens is not None else default_cap


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
    text. Calls are measured as ``mode="mock"`` in the Claude families, under the label
    ``model``.

    Each call is priced as the call to the layer's configured model it stands in for would be
    (``settings``: ``llm.layers``, the price table), reserved against the budgets first as the
    real service does (:class:`~hal9.errors.BudgetExceeded` when it would pass one), counted in
    ``hal9_claude_cost_dollars_total`` and the spend ledger (rows marked ``mode = 'mock'``, so
    a real run's budgets never see them). ``priced=False`` makes every call cost nothing.

    Args:
        replies: scripted replies, checked in order.
        model: the model name reported in metrics.
        latency: simulated API latency in seconds.
        max_concurrency: calls in their latency at once, as the real service bounds calls in
            flight (``llm.max_concurrency``); more wait for a slot.
        max_tokens: the completion cap when a call gives none (replies are cut to it).
        keep_calls: how many recent calls to keep in :attr:`calls`.
        settings: the ``[llm]`` section: the layers' models, the prices and the budgets.
        database: the SQLite file of the spend ledger; None keeps spend in memory only.
        priced: price the calls (False: they cost nothing and no budget can refuse one).
        budgets: own the spend and budget families; False for the real service's fallback,
            whose calls are neither priced nor counted against its budgets.
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
        settings: LLMConfig | None = None,
        database: Path | None = None,
        priced: bool = True,
        budgets: bool = True,
    ) -> None:
        self.replies = tuple(replies)
        self.model = model
        self.latency = latency
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.max_tokens = max_tokens
        self.calls: deque[LLMCall] = deque(maxlen=keep_calls)
        self.settings = settings if settings is not None else LLMConfig()
        self.priced = priced and budgets
        self.prices = PriceTable(self.settings.price_table, self.settings.default_price)
        self.spend: SpendTracker | None = None
        if budgets:
            ledger = SpendLedger(database, mode="mock") if database is not None else None
            # Written behind: a mock call answers at once and must not wait on the disk.
            self.spend = SpendTracker(self.settings.budget, ledger, write_behind=True)
        self._cost: Counter | None = None
        self._collector: BudgetCollector | None = None
        self._runtime: Runtime | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls._build(config, budgets=True)

    @classmethod
    def fallback_for(cls, config: Config) -> Self:
        """The mock the real service falls back to: it answers, but prices nothing (the budgets are the real API's)."""
        return cls._build(config, budgets=False)

    @classmethod
    def _build(cls, config: Config, *, budgets: bool) -> Self:
        mock = config.llm.mock
        return cls(
            mock.replies,
            model=mock.model,
            latency=mock.latency_seconds,
            max_concurrency=config.llm.max_concurrency,
            max_tokens=config.llm.max_tokens,
            settings=config.llm,
            # An unpriced mock has no spend to keep: it opens no database.
            database=config.data_dir / DATABASE_FILE if budgets and mock.priced and config.data_dir else None,
            priced=mock.priced,
            budgets=budgets,
        )

    def stand_in(self) -> None:
        """Serve as the real service's fallback: price nothing, own no budget (the real API's budgets are its own).

        Called by :class:`~hal9.llm.claude.ClaudeService` on the mock it is given, before metrics are bound.
        """
        self.spend = None
        self.priced = False

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Open the spend ledger of a priced mock; on exit write what is pending and close it."""
        self.metrics  # noqa: B018 - binds a private registry when used outside a runtime
        if self.spend is None:
            yield self
            return
        if self.priced:
            # In a cluster the budgets are the cluster's (hal9.llm.shared_budget); the mock's own document.
            self.spend = shared_tracker(self._runtime, self.spend, "mock", hold_seconds=self.latency)
            if self._collector is not None:
                self._collector.tracker = self.spend
        await self.spend.open()
        try:
            yield self
        finally:
            await self.spend.close()  # shields its last write itself

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        tokens = metrics.counter(fam.CLAUDE_TOKENS.name, fam.CLAUDE_TOKENS.help, fam.CLAUDE_TOKENS.labels)
        self._prompt_tokens = tokens.labels("prompt", self.model)
        self._completion_tokens = tokens.labels("completion", self.model)
        self.measure(mode="mock", model=self.model)  # series exist at zero from the start
        if self.spend is not None:
            cost = metrics.counter(fam.CLAUDE_COST.name, fam.CLAUDE_COST.help, fam.CLAUDE_COST.labels)
            self._cost = cost.labels(self.model)
            self._collector = BudgetCollector(self.spend)
            metrics.register(self._collector)

    def on_attached(self, runtime: Runtime) -> None:
        self._runtime = runtime

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
            sent = estimate_tokens(system) + estimate_tokens(prompt) + _history_tokens(history, tools)
            if not self.priced:
                response = await self._answer(system, prompt, sent, layer, max_tokens, tools, history)
            else:
                model, cap = layer_route(self.settings, layer, max_tokens)
                # Reserved as the real service reserves it: a call that could pass a budget is refused.
                spend = self._spend
                async with spend.hold(self.prices.worst_case(model, sent, cap)) as reservation:
                    response = await self._answer(system, prompt, sent, layer, max_tokens, tools, history)
                    cost = self.prices.cost(model, Usage(response.prompt_tokens, response.completion_tokens))
                    if self._cost is not None:
                        self._cost.inc(cost)
                    await spend.record(
                        self.model, response.prompt_tokens, response.completion_tokens, cost, reservation
                    )
        self._prompt_tokens.inc(response.prompt_tokens)
        self._completion_tokens.inc(response.completion_tokens)
        return response

    @property
    def _spend(self) -> SpendTracker:
        assert self.spend is not None  # priced implies budgets
        return self.spend

    async def _answer(
        self,
        system: str,
        prompt: str,
        prompt_tokens: int,
        layer: Layer | None,
        max_tokens: int | None,
        tools: Sequence[ToolSpec],
        history: Sequence[Turn],
    ) -> LLMResponse:
        """The reply, after the simulated latency; ``prompt_tokens`` is the estimate of what was sent."""
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
        return LLMResponse(
            text=text,
            model=self.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=estimate_tokens(text) + sum(estimate_tokens(json.dumps(u.input)) for u in uses),
            stop_reason=stop_reason,
            tool_uses=uses,
        )

    def usage(self) -> dict[str, Any]:
        """The mode, the model label, whether calls are priced, and spend per period as the real service reports it."""
        view: dict[str, Any] = {"mode": "mock", "model": self.model, "priced": self.priced}
        spend = self.spend
        if spend is None:
            return view
        view["rate_dollars_per_hour"] = spend.rate_per_hour()
        view["reserved_dollars"] = spend.reserved
        view["periods"] = {
            period: {
                "spent_dollars": spend.spent(period),
                "limit_dollars": spend.limits[period],
                "remaining_dollars": None if spend.limits[period] is None else spend.remaining(period),
                "by_model": spend.spent_by_model(period),
            }
            for period in PERIODS
        }
        return view


def _history_tokens(history: Sequence[Turn], tools: Sequence[ToolSpec]) -> int:
    """The estimated tokens the earlier turns and the tool definitions add to a call's prompt."""
    history_text = sum(estimate_tokens(_turn_text(turn)) for turn in history)
    return history_text + sum(estimate_tokens(json.dumps(tool.as_anthropic())) for tool in tools)


def _turn_text(turn: Turn) -> str:
    """What a turn adds to a prompt, for the token estimate."""
    parts = [turn.text]
    parts.extend(f"{use.name} {json.dumps(use.input)}" for use in turn.tool_uses)
    parts.extend(result.content for result in turn.tool_results)
    return "\n".join(parts)
