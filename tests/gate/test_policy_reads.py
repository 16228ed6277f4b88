"""A fact no applicable rule reads cannot change a decision, so the domain may skip it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agent.gate.call import ReadsFacts
from agent.gate.policy import Policy, Rule
from agent.gate.policy_file import fast_condition, load_policy
from agent.registry import Effect
from tests.budget import examples
from tests.gate.test_policy import FACT_KEYS, READS, RETAIL, WRITES, known_effects
from tests.gate.test_policy_fast import CONDITIONS, SCALARS

RETAIL_POLICY = load_policy(RETAIL)
FACTS = st.fixed_dictionaries({key: SCALARS for key in FACT_KEYS})


def test_the_retail_policy_reads_the_refund_count_only_for_writes() -> None:
    assert isinstance(RETAIL_POLICY, ReadsFacts)
    for tool in READS:
        assert not RETAIL_POLICY.reads_fact(tool, "read", "refunds_last_30_days"), tool
        assert RETAIL_POLICY.reads_fact(tool, "read", "authenticated"), tool
        assert RETAIL_POLICY.reads_fact(tool, "read", "owns_target"), tool
    for tool in WRITES:
        assert RETAIL_POLICY.reads_fact(tool, "write", "refunds_last_30_days"), tool
        assert RETAIL_POLICY.reads_fact(tool, "write", "refund_total"), tool


def _decided(policy: Policy, tool: str, effect: Effect, facts: dict[str, Any]) -> Any:
    decision = policy.evaluate(tool, effect, {"order_id": "#W1"}, facts)
    return decision.verdict, decision.rules, decision.role


@settings(max_examples=examples(300), deadline=None)
@given(facts=FACTS, other=SCALARS)
def test_a_retail_fact_not_read_never_changes_a_retail_decision(
    facts: dict[str, Any], other: Any
) -> None:
    for tool, effect in known_effects().items():
        before = _decided(RETAIL_POLICY, tool, effect, facts)
        for fact in FACT_KEYS:
            if not RETAIL_POLICY.reads_fact(tool, effect, fact):
                for value in (None, other):
                    changed = {**facts, fact: value}
                    assert _decided(RETAIL_POLICY, tool, effect, changed) == before, fact


def _policy(when: Any) -> Policy:
    wrapped = {"required": ["facts"], "properties": {"facts": when}}
    rule = Rule(
        id="r",
        index=0,
        tools=("*",),
        effects=None,
        verdict="approve",
        reason="because",
        role="lead",
        when=wrapped,
        condition=Draft202012Validator(wrapped),
        fast=fast_condition(wrapped),
    )
    return Policy(source="generated", rules=(rule,), roles=("lead",))


@settings(max_examples=examples(600), deadline=None)
@given(when=CONDITIONS, facts=FACTS, other=SCALARS)
def test_a_fact_a_generated_condition_does_not_read_never_changes_its_decision(
    when: Any, facts: dict[str, Any], other: Any
) -> None:
    policy = _policy(when)
    before = _decided(policy, "any_tool", "write", facts)
    for fact in FACT_KEYS:
        if not policy.reads_fact("any_tool", "write", fact):
            for value in (None, other):
                assert _decided(policy, "any_tool", "write", {**facts, fact: value}) == before


def test_a_condition_that_reads_values_it_does_not_name_reads_every_fact() -> None:
    for when in (
        {"additionalProperties": {"type": "integer", "maximum": 3}},
        {"patternProperties": {"^refunds": {"maximum": 1}}},
        {"unevaluatedProperties": False, "properties": {"authenticated": True}},
    ):
        policy = _policy(when)
        assert all(policy.reads_fact("t", "write", fact) for fact in FACT_KEYS), when
    quiet = _policy({"properties": {"authenticated": {"const": True}}})
    assert quiet.reads_fact("t", "write", "authenticated")
    assert not quiet.reads_fact("t", "write", "refunds_last_30_days")


def test_a_rule_about_other_calls_reads_nothing_of_this_one() -> None:
    rules = RETAIL_POLICY.rules
    pending = next(r for r in rules if r.id == "pending-orders-only")
    assert pending.applies("cancel_pending_order", "write")
    assert not pending.applies("cancel_pending_order", "read")
    assert not pending.applies("get_order_details", "read")
