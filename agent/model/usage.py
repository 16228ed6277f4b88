"""Tokens and dollars: a dated price table and the budget check the loop applies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.model.client import Usage

PRICES_AS_OF = "2026-11-01"
"""Date the price table was last checked against Anthropic's published prices."""

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: Decimal
    output: Decimal

    @property
    def cache_write(self) -> Decimal:
        """5-minute cache writes cost 1.25x the input price."""
        return self.input * Decimal("1.25")

    @property
    def cache_read(self) -> Decimal:
        """Cache reads cost 0.1x the input price."""
        return self.input * Decimal("0.1")


# By model family prefix; the longest matching prefix wins. Unknown models have no price.
PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price(Decimal(5), Decimal(25)),
    "claude-opus-4-6": Price(Decimal(5), Decimal(25)),
    "claude-opus": Price(Decimal(5), Decimal(25)),
    "claude-sonnet": Price(Decimal(3), Decimal(15)),
    "claude-haiku-4-5": Price(Decimal(1), Decimal(5)),
    "claude-haiku": Price(Decimal(1), Decimal(5)),
}


def price_for(model: str) -> Price | None:
    """The price of a model by its longest matching family prefix, or None if unknown."""
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else None


def cost(model: str, usage: Usage) -> Decimal | None:
    """Dollars for this usage, or None when the model's price is unknown."""
    price = price_for(model)
    if price is None:
        return None
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    )
    return (total / MILLION).quantize(Decimal("0.000001"))


BATCH_DISCOUNT = Decimal("0.5")
"""Message Batches bill every token (input, output, cache) at half the standard price."""


def batch_cost(model: str, usage: Usage) -> Decimal | None:
    """Dollars for this usage when it went through the Message Batches API."""
    standard = cost(model, usage)
    return None if standard is None else (standard * BATCH_DISCOUNT).quantize(Decimal("0.000001"))


def total_tokens(usage: Usage) -> int:
    """All tokens billed: input (fresh, cache write, cache read) plus output."""
    return (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_creation_input_tokens
        + usage.cache_read_input_tokens
    )


@dataclass(frozen=True)
class Budget:
    """Per-conversation limits; None means unlimited."""

    max_tokens: int | None = None
    max_dollars: Decimal | None = None

    def exceeded(self, model: str, usage: Usage) -> str | None:
        """Why the next model call must not happen, or None if it may."""
        if self.max_tokens is not None and total_tokens(usage) >= self.max_tokens:
            return f"token budget spent ({total_tokens(usage)} of {self.max_tokens} tokens)"
        if self.max_dollars is None:
            return None
        spent = cost(model, usage)
        if spent is None:
            return f"no price known for model {model!r}; cannot enforce the dollar budget"
        if spent >= self.max_dollars:
            return f"dollar budget spent (${spent} of ${self.max_dollars})"
        return None
