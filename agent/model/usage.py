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
    """US dollars per million tokens; cache writes are multiples of the input price."""

    input: Decimal
    output: Decimal
    read_ratio: Decimal = Decimal("0.1")
    long_prompt: Price | None = None
    """Another price for requests whose prompt exceeds `long_prompt_tokens` (every token)."""
    long_prompt_tokens: int = 100_000

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
        """Cache reads (hits and refreshes): 0.1x the input price, less on newer models."""
        return self.input * self.read_ratio


def _usd(input: str, output: str, read_ratio: str = "0.1") -> Price:
    return Price(Decimal(input), Decimal(output), Decimal(read_ratio))


# By model id prefix; the longest matching prefix wins. Unknown models have no price.
# Source: platform.claude.com/docs/en/about-claude/pricing as checked on PRICES_AS_OF
# (Sonnet 5.5 cache hits at 0.05x since 2026-10-07; Haiku 5.5 has a long-prompt tier).
PRICES: dict[str, Price] = {
    "claude-fable-5-1": _usd("10", "50", "0.025"),
    "claude-mythos-5-1": _usd("10", "50", "0.025"),
    "claude-fable-5": _usd("10", "50"),
    "claude-mythos-5": _usd("10", "50"),
    "claude-opus-5-5": _usd("4", "20", "0.05"),
    "claude-opus-5": _usd("5", "25"),
    "claude-opus-4-8": _usd("5", "25"),
    "claude-opus-4-7": _usd("5", "25"),
    "claude-opus-4-6": _usd("5", "25"),
    "claude-opus-4-5": _usd("5", "25"),
    "claude-opus-4-1": _usd("15", "75"),
    "claude-opus-4-0": _usd("15", "75"),
    "claude-opus-4-2025": _usd("15", "75"),
    "claude-3-opus": _usd("15", "75"),
    "claude-sonnet-5-5": _usd("2", "10", "0.05"),
    "claude-sonnet-5": _usd("2", "10"),
    "claude-sonnet-4": _usd("3", "15"),
    "claude-3-7-sonnet": _usd("3", "15"),
    "claude-haiku-5-5": Price(Decimal("0.10"), Decimal("0.50"), long_prompt=_usd("0.50", "2.50")),
    "claude-haiku-4-5": _usd("1", "5"),
    "claude-3-5-haiku": _usd("0.80", "4"),
    "claude-3-haiku": _usd("0.25", "1.25"),
}


def price_for(model: str, prompt_tokens: int = 0) -> Price | None:
    """The price of a model by its longest matching id prefix, or None if unknown."""
    model = model.removeprefix("anthropic.")  # Bedrock ids: anthropic.claude-…
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    if not matches:
        return None
    price = PRICES[max(matches, key=len)]
    if price.long_prompt is not None and prompt_tokens > price.long_prompt_tokens:
        return price.long_prompt
    return price


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
    prompt = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    price = price_for(model, prompt)
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


def batch_cost(model: str, usage: Usage) -> Decimal | None:
    """Dollars for this usage when it went through the Message Batches API."""
    return cost(model, usage, batch=True)


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
