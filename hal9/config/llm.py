"""The ``[llm]`` section: mode, models per layer, prices, budgets and the mock."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hal9.config.section import Section
from hal9.layer import Layer


class MockToolUse(Section):
    """A tool call the mock LLM asks for."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    input: dict[str, Any] = Field(default_factory=dict)


class MockReply(Section):
    """A scripted reply of the mock LLM: the first rule that matches a call answers it.

    With ``tool_use`` the reply asks for that tool (``reply`` is the text before the call).
    ``tool_round`` is the number of tool rounds the call follows (0: the first call), so a
    tool call and the final answer are two rules; ``{tool_result}`` in a reply is replaced by
    the text of the latest tool results.
    """

    layer: Layer | None = None
    trigger: str | None = Field(default=None, description="substring of the prompt that selects this reply")
    reply: str = ""
    tool_use: MockToolUse | None = None
    tool_round: int = Field(default=0, ge=0, description="tool rounds before the call this rule answers")


class MockLLMConfig(Section):
    """The deterministic mock LLM.

    Its calls are priced as the calls to the configured models it stands in for would be
    (the layer's model at its price-table price), so budgets, the spend ledger, ``/llm/usage``
    and the cost metrics show what the same work would cost with the real API. The mock's
    spend is kept apart from the real API's: it never counts against a real run's budgets.
    """

    model: str = Field(default="mock-claude", description="the model label the mock's calls are counted under")
    latency_seconds: float = Field(default=0.0, ge=0, le=60, description="simulated API latency")
    priced: bool = Field(
        default=True,
        description="price calls as the configured models (budgets apply); false: every call costs nothing",
    )
    replies: tuple[MockReply, ...] = ()


class ModelPrice(Section):
    """What a model costs, in US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float | None = Field(default=None, ge=0, description="default: 1.25 x input (5-minute cache)")
    cache_read: float | None = Field(default=None, ge=0, description="default: 0.1 x input")


#: Anthropic's published list prices in USD per million input/output tokens (platform.claude.com
#: pricing and model pages, read November 2026); cache writes default to 1.25x and cache reads to
#: 0.1x the input price, as published. A model id with a date suffix (claude-haiku-4-5-20251001)
#: is priced by its alias. Models not listed here (or whose price is tiered, like Haiku 5.5) get
#: ``llm.default_price`` and the label ``other``; ``[llm.prices]`` in the config adds or overrides.
BUILTIN_PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": ModelPrice(input=10.0, output=50.0),
    "claude-opus-5-5": ModelPrice(input=4.0, output=20.0),
    "claude-opus-5": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-6": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-5": ModelPrice(input=5.0, output=25.0),
    "claude-opus-4-1": ModelPrice(input=15.0, output=75.0),
    "claude-opus-4-0": ModelPrice(input=15.0, output=75.0),
    "claude-opus-4": ModelPrice(input=15.0, output=75.0),
    "claude-sonnet-5-5": ModelPrice(input=2.0, output=10.0),
    "claude-sonnet-5": ModelPrice(input=2.0, output=10.0),
    "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4-0": ModelPrice(input=3.0, output=15.0),
    "claude-sonnet-4": ModelPrice(input=3.0, output=15.0),
    "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0),
    "claude-3-5-haiku": ModelPrice(input=0.8, output=4.0),
}


class LayerModel(Section):
    """The model, and optionally the completion cap, that one layer's neurons call."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0, description="default: llm.max_tokens")


def _default_layer_models() -> dict[Layer, LayerModel]:
    # Strategy on the strongest model, implementation on the fastest.
    return {
        Layer.L4: LayerModel(model="claude-opus-5-5"),
        Layer.L3: LayerModel(model="claude-sonnet-5-5"),
        Layer.L2: LayerModel(model="claude-haiku-4-5"),
    }


class BudgetConfig(Section):
    """Spend limits in US dollars per UTC calendar hour, day and month; None (``inf`` in TOML) means no limit."""

    hour: float | None = Field(default=5.0, ge=0)
    day: float | None = Field(default=50.0, ge=0)
    month: float | None = Field(default=500.0, ge=0)


class LLMConfig(Section):
    """The LLM service: the real Claude API, the mock, or real with a fallback to the mock."""

    mode: Literal["mock", "real", "auto"] = Field(
        default="auto", description="auto: real when ANTHROPIC_API_KEY is set, else mock"
    )
    max_tokens: int = Field(default=1024, gt=0)
    model: str = Field(default="claude-sonnet-5-5", min_length=1, description="for calls without a layer")
    layers: dict[Layer, LayerModel] = Field(default_factory=_default_layer_models)
    timeout: float = Field(default=60.0, gt=0, description="seconds per attempt (the SDK's timeout)")
    max_retries: int = Field(default=2, ge=0, description="the SDK's retries on 408/409/429/5xx and connection errors")
    max_concurrency: int = Field(default=8, gt=0, description="real API calls in flight at once")
    stream: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="receive answers as a stream of events; auto: when max_tokens is at least stream_min_tokens",
    )
    stream_min_tokens: int = Field(
        # A long completion sent whole can outlast the per-attempt timeout; a stream's timeout
        # applies between events, so it only fires when the API stalls.
        default=4096,
        gt=0,
        description="with stream=auto, calls allowed this many completion tokens or more are streamed",
    )
    fallback_to_mock: bool = Field(default=False, description="answer from the mock when the real API is unavailable")
    breaker_failures: int = Field(default=5, gt=0, description="consecutive failures that open the circuit breaker")
    breaker_cooldown: float = Field(default=30.0, gt=0, description="seconds open before a half-open probe")
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="added to or overriding BUILTIN_PRICES")
    default_price: ModelPrice = Field(
        # Priced like the dearest built-in model (Opus 4/4.1), so a budget errs on the safe side.
        default_factory=lambda: ModelPrice(input=15.0, output=75.0),
        description="for models outside the price table (labelled 'other')",
    )
    budget: BudgetConfig = BudgetConfig()
    mock: MockLLMConfig = MockLLMConfig()

    @property
    def price_table(self) -> dict[str, ModelPrice]:
        """The built-in prices with the configured ones on top."""
        return {**BUILTIN_PRICES, **self.prices}
