"""The price table: what a call costs, and the bounded ``model`` label it is counted under."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hal9.config import ModelPrice

#: The label of every model outside the price table, so the label set stays bounded.
OTHER = "other"
_DATE_SUFFIX = re.compile(r"-\d{8}$")
_CACHE_WRITE_FACTOR = 1.25
_CACHE_READ_FACTOR = 0.1
_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call, as the Messages API's ``usage`` reports them."""

    input: int
    output: int
    cache_write: int = 0
    cache_read: int = 0

    @property
    def prompt(self) -> int:
        """Every input token, cached or not: what ``type="prompt"`` counts."""
        return self.input + self.cache_write + self.cache_read


class PriceTable:
    """Prices per model in US dollars per million tokens.

    A model is found by its exact id, or by the id without a date suffix
    (``claude-haiku-4-5-20251001`` is priced and labelled as ``claude-haiku-4-5``);
    any other model is priced at ``default`` and labelled ``other``.
    """

    def __init__(self, prices: Mapping[str, ModelPrice], default: ModelPrice) -> None:
        self._prices = dict(prices)
        self.default = default

    @property
    def models(self) -> tuple[str, ...]:
        """Every label a model can have: the table's models and ``other``."""
        return (*self._prices, OTHER)

    def label(self, model: str) -> str:
        """The table entry ``model`` is counted under, or ``other``."""
        if model in self._prices:
            return model
        alias = _DATE_SUFFIX.sub("", model)
        return alias if alias in self._prices else OTHER

    def price(self, model: str) -> ModelPrice:
        return self._prices.get(self.label(model), self.default)

    def cost(self, model: str, usage: Usage) -> float:
        """The cost of a call in US dollars."""
        price = self.price(model)
        cache_write = price.cache_write if price.cache_write is not None else price.input * _CACHE_WRITE_FACTOR
        cache_read = price.cache_read if price.cache_read is not None else price.input * _CACHE_READ_FACTOR
        return _PER_TOKEN * (
            usage.input * price.input
            + usage.cache_write * cache_write
            + usage.cache_read * cache_read
            + usage.output * price.output
        )

    def worst_case(self, model: str, prompt_tokens: int, max_tokens: int) -> float:
        """The most a call can cost: ``prompt_tokens`` at the input price plus ``max_tokens`` of output.

        Our requests set no ``cache_control``, so no input is billed at the cache-write price.
        """
        price = self.price(model)
        return _PER_TOKEN * (prompt_tokens * price.input + max_tokens * price.output)
