"""Token and dollar accounting, and budgets that stop the loop before the next call."""

from __future__ import annotations

from decimal import Decimal

from agent.model.client import Usage
from agent.model.scripted import ScriptStep
from agent.model.usage import Budget, cost, price_for
from tests.test_loop import call, make_agent, text


def test_cost_uses_family_price_and_cache_multipliers():
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_creation_input_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
    )
    # sonnet 5.5: 2 in + 1 out + 2.50 cache write + 0.10 cache read (0.05x)
    assert cost("claude-sonnet-5-5", usage) == Decimal("5.60")
    # sonnet 4.6: 3 in + 1.5 out + 3.75 cache write + 0.30 cache read
    assert cost("claude-sonnet-4-6", usage) == Decimal("8.55")
    assert price_for("claude-haiku-4-5-20251001") == price_for("claude-haiku-4-5")
    assert cost("some-unknown-model", usage) is None


def test_cache_write_ttls_batch_discount_and_long_prompt_tier():
    split = Usage.model_validate(
        {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 2_000_000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 1_000_000,
                "ephemeral_1h_input_tokens": 1_000_000,
            },
        }
    )
    assert cost("claude-opus-4-6", split) == Decimal("16.25")  # 6.25 (5 m) + 10 (1 h)
    plain = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost("claude-opus-4-6", plain, batch=True) == Decimal("15")  # half of 30
    assert cost("claude-haiku-5-5", Usage(input_tokens=100_000)) == Decimal("0.01")
    assert cost("claude-haiku-5-5", Usage(input_tokens=200_000)) == Decimal("0.1")
    assert cost("anthropic.claude-haiku-4-5-20251001-v1:0", plain) == Decimal("6")


def test_budget_reasons():
    big = Usage(input_tokens=900, output_tokens=200)
    assert "token budget" in (Budget(max_tokens=1000).exceeded("claude-sonnet-5", big) or "")
    assert Budget(max_tokens=5000).exceeded("claude-sonnet-5", big) is None
    assert "no price known" in (Budget(max_dollars=Decimal(1)).exceeded("mystery", big) or "")
    huge = Usage(input_tokens=10_000_000)
    assert "dollar budget" in (Budget(max_dollars=Decimal(1)).exceeded("claude-opus-5", huge) or "")


def test_loop_stops_before_a_call_that_would_exceed_the_token_budget(engine):
    steps = [call("lookup", {"name": "a"}, f"t{i}") for i in range(4)] + [text("done")]
    for step in steps:
        step.usage = Usage(input_tokens=400, output_tokens=100)
    agent, model = make_agent(engine, steps)
    agent.limits.budget = Budget(max_tokens=1200)
    result = agent.run("c1", "go")
    assert result.status == "failed" and "token budget spent (1500 of 1200" in result.reason
    assert len(model.requests) == 3
    assert isinstance(steps[0], ScriptStep)
