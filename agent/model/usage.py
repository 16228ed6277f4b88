"""Tokens and dollars: a dated price table and the budget check the loop applies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.model.client import Usage

PRICES_AS_OF = "2026-11-01"
"""Date the price table was last checked against Anthropic's published prices."""

MILLION = Decimal(1_000_000)
BATCH_DISCOUNT = Decimal("0.5")
"""Message Batches cost half of the standard price, every token kind alike."""


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens; cache prices are multiples of the input price."""

    input: Decimal
    output: Decimal

    @property
    def cache_write(self) -> Decimal:
        """5-minute cache writes cost 1.25x the input price."""
        return self.input * Decimal("1.25")

    @property
    def cache_write_1h(self) -> Decimal:
        """1-hour cache writes cost 2x the input price."""
        return self.input * 2

    @property
    def cache_read(self) -> Decimal:
        """Cache reads cost 0.1x the input price."""
        return self.input * Decimal("0.1")


# By model id prefix; the longest matching prefix wins. Unknown models have no price.
PRICES: dict[str, Price] = {
    # Opus: 4 and 4.1 at the old price, 4.5 onwards at the new one
    "claude-opus-4-0": Price(Decimal(15), Decimal(75)),
    "claude-opus-4-2025": Price(Decimal(15), Decimal(75)),
    "claude-opus-4-1": Price(Decimal(15), Decimal(75)),
    "claude-opus-4-5": Price(Decimal(5), Decimal(25)),
    "claude-opus-4-6": Price(Decimal(5), Decimal(25)),
    "claude-opus": Price(Decimal(5), Decimal(25)),
    "claude-3-opus": Price(Decimal(15), Decimal(75)),
    # Sonnet: 3.7, 4, 4.5 and later
    "claude-sonnet-4-5": Price(Decimal(3), Decimal(15)),
    "claude-sonnet-4": Price(Decimal(3), Decimal(15)),
    "claude-sonnet": Price(Decimal(3), Decimal(15)),
    "claude-3-7-sonnet": Price(Decimal(3), Decimal(15)),
    # Haiku
    "claude-haiku-4-5": Price(Decimal(1), Decimal(5)),
    "claude-haiku": Price(Decimal(1), Decimal(5)),
    "claude-3-5-haiku": Price(Decimal("0.80"), Decimal(4)),
    "claude-3-haiku": Price(Decimal("0.25"), Decimal("1.25")),
}


def price_for(model: str) -> Price | None:
    """The price of a model by its longest matching id prefix, or None if unknown."""
    model = model.removeprefix("anthropic.")  # Bedrock ids: anthropic.claude-…
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else None


def cache_writes(usage: Usage) -> tuple[int, int]:
    """Cache-write tokens split into (5-minute, 1-hour); all 5-minute when not itemised."""
    detail = (usage.model_extra or {}).get("cache_creation")
    if isinstance(detail, dict):
        one_hour = int(detail.get("ephemeral_1h_input_tokens") or 0)
        five = int(detail.get("ephemeral_5m_input_tokens") or 0)
        if one_hour + five == usage.cache_creation_input_tokens:
            return five, one_hour
    return usage.cache_creation_input_tokens, 0


def cost(model: str, usage: Usage, *, batch: bool = False) -> Decimal | None:
    """Dollars for this usage, or None when the model's price is unknown."""
    price = price_for(model)
    if price is None:
        return None
    five, one_hour = cache_writes(usage)
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + five * price.cache_write
        + one_hour * price.cache_write_1h
        + usage.cache_read_input_tokens * price.cache_read
    )
    if batch:
        total *= BATCH_DISCOUNT
    return (total / MILLION).quantize(Decimal("0.000001"))


def input_cost(model: str, usage: Usage) -> Decimal | None:
    """Dollars for the input side only (fresh, cache writes, cache reads)."""
    return cost(model, usage.model_copy(update={"output_tokens": 0}))


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
