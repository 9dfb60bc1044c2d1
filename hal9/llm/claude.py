"""The real Claude service: the Messages API through the official ``anthropic`` SDK.

Retries and timeouts are the SDK's own (``max_retries``, ``timeout``); this service adds a
bound on calls in flight, a budget checked before sending, a circuit breaker, the
mapping of the SDK's errors to :mod:`hal9.errors`, and the Claude metric families.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

import anthropic
import anyio
import httpx2
import structlog
from anthropic import AsyncAnthropic

from hal9.config import LLMConfig
from hal9.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from hal9.layer import Layer
from hal9.llm.breaker import CircuitBreaker
from hal9.llm.budget import PERIODS, BudgetCollector, SpendTracker
from hal9.llm.ledger import SpendLedger
from hal9.llm.mock import CLAUDE_OPERATIONS, DATABASE_FILE, MockLLM, estimate_tokens, layer_route
from hal9.llm.pricing import PriceTable, Usage
from hal9.llm.shared_budget import shared_tracker
from hal9.metrics import families as fam
from hal9.metrics.registry import MetricsRegistry
from hal9.runtime.llm import LLMResponse, ToolSpec, ToolUse, Turn
from hal9.runtime.service import Service

if TYPE_CHECKING:
    from prometheus_client import Counter

    from hal9.config import Config
    from hal9.runtime.runtime import Runtime

log = structlog.get_logger("hal9.llm")

#: Errors that say the API is unavailable rather than that the request was wrong: they count
#: against the breaker and may fall back to the mock.
UNAVAILABLE = (LLMUnavailable, LLMTimeout, LLMRateLimited, LLMBadResponse)
#: What an ``error`` event inside a stream means, by its error type; others are outages.
_STREAM_ERRORS: dict[str, type[LLMError]] = {
    "rate_limit_error": LLMRateLimited,
    "invalid_request_error": LLMBadRequest,
    "authentication_error": LLMAuthError,
    "permission_error": LLMAuthError,
}


def translate(exc: anthropic.AnthropicError) -> LLMError:
    """The HAL9 error for an SDK error (the SDK has already retried what it retries)."""
    if not isinstance(exc, anthropic.APIError):
        # CredentialsError and kin: no API key or token could be resolved.
        return LLMAuthError(f"no usable Claude API credentials: {exc}")
    detail = getattr(exc, "api_message", None) or exc.message
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMTimeout("the Claude API did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return LLMUnavailable(f"cannot reach the Claude API: {exc.message}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return LLMBadResponse(f"the Claude API answered with an invalid body: {exc.message}")
    if isinstance(exc, anthropic.RateLimitError):
        return LLMRateLimited(f"the Claude API is rate limiting: {detail}")
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return LLMAuthError(f"the Claude API refused the credentials ({exc.status_code}): {detail}")
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
        # An ``error`` event inside a stream whose response had started with 200.
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error")
        kind = str(error.get("type", "api_error")) if isinstance(error, dict) else "api_error"
        return _STREAM_ERRORS.get(kind, LLMUnavailable)(f"the Claude API failed mid-stream ({kind}): {detail}")
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return LLMUnavailable(f"the Claude API failed ({exc.status_code}): {detail}")
        return LLMBadRequest(f"the Claude API refused the request ({exc.status_code}): {detail}")
    return LLMError(f"the Claude API call failed: {detail}")


#: How a stream that had started can fail on the wire. SDK releases up to 2.16 let the transport's own
#: error through; later ones wrap it as ``APIConnectionError`` (``APITimeoutError`` for a stall).
STREAM_TRANSPORT_ERRORS = (httpx2.TransportError, anthropic.APIConnectionError)


def translate_stream_failure(exc: httpx2.TransportError | anthropic.APIConnectionError) -> LLMError:
    """The HAL9 error for a stream that broke off or stalled after the API had answered 200."""
    if isinstance(exc, httpx2.TimeoutException | anthropic.APITimeoutError):
        return LLMTimeout("the Claude API stalled mid-stream")
    return LLMUnavailable(f"the Claude API stream broke off: {type(exc).__name__}")


def parse_message(message: Any) -> tuple[str, str, str, Usage, tuple[ToolUse, ...]]:
    """Text, model, stop reason, usage and tool calls of a Messages API response.

    Raises:
        LLMBadResponse: the body is not a message (the SDK does not validate bodies by default).
    """
    try:
        text = "".join(block.text for block in message.content if block.type == "text")
        uses = tuple(
            ToolUse(str(block.id), str(block.name), dict(block.input))
            for block in message.content
            if block.type == "tool_use"
        )
        usage = message.usage
        tokens = Usage(
            input=int(usage.input_tokens),
            output=int(usage.output_tokens),
            cache_write=int(usage.cache_creation_input_tokens or 0),
            cache_read=int(usage.cache_read_input_tokens or 0),
        )
        return text, str(message.model), str(message.stop_reason or "end_turn"), tokens, uses
    except (AttributeError, TypeError, ValueError) as exc:
        raise LLMBadResponse(f"the Claude API answered with a body that is not a message: {exc}") from None


def build_messages(prompt: str, history: Sequence[Turn]) -> list[dict[str, Any]]:
    """The Messages API's ``messages``: the prompt, then each turn's text, tool_use and tool_result blocks."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    for turn in history:
        blocks: list[dict[str, Any]] = []
        if turn.text:
            blocks.append({"type": "text", "text": turn.text})
        blocks.extend(
            {"type": "tool_use", "id": use.id, "name": use.name, "input": dict(use.input)} for use in turn.tool_uses
        )
        blocks.extend(
            {
                "type": "tool_result",
                "tool_use_id": result.tool_use_id,
                "content": result.content,
                "is_error": result.is_error,
            }
            for result in turn.tool_results
        )
        messages.append({"role": turn.role, "content": blocks})
    return messages


class ClaudeService(Service):
    """Answers through the Claude Messages API.

    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` are read by the SDK as it always does.
    Calls are measured as ``mode="real"`` under the model's price-table label (``other``
    outside the table). A call whose worst case would pass a budget is refused with
    :class:`~hal9.errors.BudgetExceeded` before it is sent.

    Args:
        settings: the ``[llm]`` configuration.
        database: the SQLite file of the spend ledger; None keeps spend in memory only.
        fallback: a mock that answers when the real API is unavailable (``fallback_to_mock``).
        client: an SDK client to use instead of one built from ``settings`` (closed by the caller).
    """

    name = "llm"
    operation_metrics = CLAUDE_OPERATIONS

    def __init__(
        self,
        settings: LLMConfig | None = None,
        *,
        database: Path | None = None,
        fallback: MockLLM | None = None,
        client: AsyncAnthropic | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LLMConfig()
        self.prices = PriceTable(self.settings.price_table, self.settings.default_price)
        self.spend = SpendTracker(self.settings.budget, SpendLedger(database) if database is not None else None)
        self.breaker = CircuitBreaker(self.settings.breaker_failures, self.settings.breaker_cooldown)
        if fallback is not None:
            fallback.stand_in()
        self.fallback = fallback
        self.limiter = anyio.CapacityLimiter(self.settings.max_concurrency)
        self._given_client = client
        self._client: AsyncAnthropic | None = None
        self._tokens: dict[tuple[str, str], Counter] = {}
        self._cost: dict[str, Counter] = {}
        self._collector: BudgetCollector | None = None
        self._runtime: Runtime | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        fallback = MockLLM.fallback_for(config) if config.llm.fallback_to_mock else None
        database = config.data_dir / DATABASE_FILE if config.data_dir is not None else None
        return cls(config.llm, database=database, fallback=fallback)

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        """Open the spend ledger, make the SDK client and run the fallback mock; on exit close them all."""
        # In a cluster the budgets are the cluster's (hal9.llm.shared_budget): a call may take every attempt.
        hold = self.settings.timeout * (self.settings.max_retries + 1)
        self.spend = shared_tracker(self._runtime, self.spend, "real", hold_seconds=hold)
        if self._collector is not None:
            self._collector.tracker = self.spend
        await self.spend.open()
        try:
            client = self._given_client
            if client is None:
                client = AsyncAnthropic(timeout=self.settings.timeout, max_retries=self.settings.max_retries)
            self._client = client
            try:
                async with AsyncExitStack() as stack:
                    if self.fallback is not None:
                        await stack.enter_async_context(self.fallback)
                    yield self
            finally:
                self._client = None
                if client is not self._given_client:
                    with anyio.CancelScope(shield=True):
                        await client.close()
        finally:
            with anyio.CancelScope(shield=True):
                await self.spend.close()

    # -- metrics ---------------------------------------------------------------------------

    def on_metrics_bound(self, metrics: MetricsRegistry) -> None:
        self._tokens_family = metrics.counter(fam.CLAUDE_TOKENS.name, fam.CLAUDE_TOKENS.help, fam.CLAUDE_TOKENS.labels)
        self._cost_family = metrics.counter(fam.CLAUDE_COST.name, fam.CLAUDE_COST.help, fam.CLAUDE_COST.labels)
        self._tokens, self._cost = {}, {}
        # The configured models' series exist at zero from the start.
        for label in sorted({self.prices.label(model) for model in self.configured_models}):
            self.measure(mode="real", model=label)
            self._count(label, Usage(0, 0), 0.0)
        self._collector = BudgetCollector(self.spend)
        metrics.register(self._collector)
        if self.fallback is not None:
            self.fallback.bind_metrics(metrics)

    def on_attached(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _count(self, label: str, usage: Usage, cost: float) -> None:
        for kind, value in (("prompt", usage.prompt), ("completion", usage.output)):
            child = self._tokens.get((kind, label))
            if child is None:
                child = self._tokens[kind, label] = self._tokens_family.labels(kind, label)
            child.inc(value)
        cost_child = self._cost.get(label)
        if cost_child is None:
            cost_child = self._cost[label] = self._cost_family.labels(label)
        cost_child.inc(cost)

    # -- calls -----------------------------------------------------------------------------

    @property
    def configured_models(self) -> tuple[str, ...]:
        return (self.settings.model, *(layer.model for layer in self.settings.layers.values()))

    def route(self, layer: Layer | None, max_tokens: int | None) -> tuple[str, int]:
        """The model and completion cap for a call from ``layer``."""
        return layer_route(self.settings, layer, max_tokens)

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
        """Answer ``prompt`` (and the turns of ``history``) under ``system`` with the layer's model.

        Raises:
            BudgetExceeded: the call's worst case would pass a budget; nothing was sent.
            LLMCircuitOpen: the breaker is open; nothing was sent.
            LLMRateLimited, LLMTimeout, LLMUnavailable, LLMBadResponse: the API failed (after the SDK's retries),
                and no fallback is configured.
            LLMBadRequest, LLMAuthError: the API refused the request.
        """
        model, cap = self.route(layer, max_tokens)
        try:
            return await self._complete_real(system, prompt, model, cap, tools, history)
        except UNAVAILABLE as exc:
            if self.fallback is None:
                raise
            log.warning("llm.fallback_to_mock", error=type(exc).__name__, model=model)
            fallback = self.fallback
        return await fallback.complete(
            system=system, prompt=prompt, layer=layer, max_tokens=cap, tools=tools, history=history
        )

    def streams(self, max_tokens: int) -> bool:
        """Whether a call allowed ``max_tokens`` completion tokens is received as a stream."""
        mode = self.settings.stream
        return mode == "always" or (mode == "auto" and max_tokens >= self.settings.stream_min_tokens)

    async def _send(self, client: AsyncAnthropic, **request: Any) -> Any:
        """One Messages API call, streamed or not; either way the result is the whole message."""
        if self.streams(request["max_tokens"]):
            # The SDK assembles the events into the same Message a plain call returns.
            async with client.messages.stream(**request) as stream:
                try:
                    return await stream.get_final_message()
                except STREAM_TRANSPORT_ERRORS as exc:
                    raise translate_stream_failure(exc) from exc
        return await client.messages.create(**request)

    async def _complete_real(
        self, system: str, prompt: str, model: str, cap: int, tools: Sequence[ToolSpec], history: Sequence[Turn]
    ) -> LLMResponse:
        label = self.prices.label(model)
        async with self.measure(mode="real", model=label):
            client = self._client
            if client is None:
                raise LLMUnavailable("the Claude service is not started")
            messages = build_messages(prompt, history)
            definitions = [tool.as_anthropic() for tool in tools]
            sent = estimate_tokens(system) + estimate_tokens(prompt)
            if len(messages) > 1:
                sent += estimate_tokens(json.dumps(messages[1:]))
            if definitions:
                sent += estimate_tokens(json.dumps(definitions))
            worst = self.prices.worst_case(model, sent, cap)
            # Reserved before the breaker lets the call go, so a refusal never takes the probe.
            spend = self.spend
            async with spend.hold(worst) as reservation:
                self.breaker.acquire()
                try:
                    async with self.limiter:
                        # Only a call with tools sends the key: a plain call's body is as before.
                        extra: dict[str, Any] = {"tools": definitions} if definitions else {}
                        message = await self._send(
                            client,
                            model=model,
                            max_tokens=cap,
                            system=system,
                            messages=cast("list[Any]", messages),
                            **extra,
                        )
                    text, answered_by, stop_reason, usage, uses = parse_message(message)
                except anthropic.AnthropicError as exc:
                    error = translate(exc)
                    # A refused request still shows the API is up; only unavailability counts.
                    self.breaker.failure() if isinstance(error, UNAVAILABLE) else self.breaker.success()
                    raise error from exc
                except UNAVAILABLE:
                    # A stream that failed part-way, or a body that is not a message.
                    self.breaker.failure()
                    raise
                except json.JSONDecodeError as exc:
                    # The SDK lets a body that is not JSON through as the decoder's error.
                    self.breaker.failure()
                    raise LLMBadResponse(f"the Claude API answered with a body that is not JSON: {exc}") from exc
                except BaseException:
                    self.breaker.release()  # cancelled: it tells nothing about the API
                    raise
                self.breaker.success()
                cost = self.prices.cost(model, usage)
                # Counted before the ledger write: the call is paid for even if that write is cancelled.
                self._count(label, usage, cost)
                await spend.record(label, usage.prompt, usage.output, cost, reservation)
        return LLMResponse(
            text=text,
            model=answered_by,
            prompt_tokens=usage.prompt,
            completion_tokens=usage.output,
            stop_reason=stop_reason,
            tool_uses=uses,
        )

    # -- reporting -------------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        """Spend per model and period, remaining budgets, the mode and the breaker's state."""
        return {
            "mode": "real",
            "fallback_to_mock": self.fallback is not None,
            "breaker": {
                "state": self.breaker.state,
                "consecutive_failures": self.breaker.consecutive_failures,
                "failures_to_open": self.breaker.threshold,
                "cooldown_seconds": self.breaker.cooldown,
            },
            "rate_dollars_per_hour": self.spend.rate_per_hour(),
            "reserved_dollars": self.spend.reserved,
            "periods": {
                period: {
                    "spent_dollars": self.spend.spent(period),
                    "limit_dollars": self.spend.limits[period],
                    "remaining_dollars": None if self.spend.limits[period] is None else self.spend.remaining(period),
                    "by_model": self.spend.spent_by_model(period),
                }
                for period in PERIODS
            },
        }
