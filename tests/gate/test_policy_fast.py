"""Rule conditions decided by jsonschema-rs agree with the reference jsonschema, always."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agent.gate.policy import Rule, plain_json
from agent.gate.policy_file import fast_condition, load_policy, parse_policy
from tests.budget import examples
from tests.gate.test_policy import FACT_KEYS, RETAIL

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, 2, 500, 500.5, -1, 0.0, 1.0, "", "pending", "delivered"])
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
FACTS = st.dictionaries(st.sampled_from(FACT_KEYS), SCALARS, max_size=len(FACT_KEYS))
DOCUMENTS = st.fixed_dictionaries(
    {"tool": st.text(max_size=5), "input": st.dictionaries(st.text(max_size=4), JSON, max_size=3)},
    optional={"facts": FACTS | JSON},
)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    number = st.integers(-3, 600) | st.floats(-3, 600, allow_nan=False)
    return st.one_of(
        st.builds(lambda v: {"const": v}, SCALARS),
        st.builds(lambda vs: {"enum": vs}, st.lists(SCALARS, min_size=1, max_size=3)),
        st.builds(
            lambda t: {"type": t},
            st.sampled_from(["integer", "number", "string", "boolean", "null", "object", "array"])
            | st.lists(st.sampled_from(["integer", "string", "null"]), min_size=1, unique=True),
        ),
        st.builds(
            lambda k, v: {k: v},
            st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
            number,
        ),
        st.builds(
            lambda k, v: {k: v},
            st.sampled_from(["minLength", "maxLength", "minItems", "maxItems", "minProperties"]),
            st.integers(0, 3),
        ),
        st.builds(
            lambda names: {"required": names},
            st.lists(st.sampled_from(FACT_KEYS), max_size=3, unique=True),
        ),
    )


CONDITIONS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda s: {"not": s}, inner),
        st.builds(
            lambda k, ss: {k: ss},
            st.sampled_from(["allOf", "anyOf", "oneOf"]),
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(
            lambda ps: {"properties": ps},
            st.dictionaries(
                st.sampled_from([*FACT_KEYS, "facts", "tool", "input"]), inner, max_size=3
            ),
        ),
        st.builds(lambda s: {"items": s}, inner),
        st.builds(lambda s: {"contains": s}, inner),
        st.builds(lambda s: {"additionalProperties": s}, inner),
        st.builds(lambda c, t: {"if": c, "then": t}, inner, inner),
    ),
    max_leaves=6,
)


def both(when: Any) -> tuple[Any, Any]:
    fast = fast_condition(when)
    assert fast is not None
    return fast, Draft202012Validator(when).is_valid


@settings(max_examples=examples(600), deadline=None)
@given(when=CONDITIONS, documents=st.lists(DOCUMENTS | JSON, min_size=1, max_size=4))
def test_a_generated_condition_gets_the_same_answer_from_both(
    when: dict[str, Any], documents: list[Any]
) -> None:
    fast, reference = both(when)
    for document in documents:
        assert fast(document) == reference(document), (when, document)


def retail_rules() -> list[Rule]:
    return [rule for rule in load_policy(RETAIL).rules if rule.when is not None]


@settings(max_examples=examples(600), deadline=None)
@given(documents=st.lists(DOCUMENTS, min_size=1, max_size=4))
def test_every_retail_condition_gets_the_same_answer_from_both(documents: list[Any]) -> None:
    for rule in retail_rules():
        fast, reference = both(rule.when)
        for document in documents:
            assert fast(document) == reference(document), (rule.id, document)


def test_every_retail_condition_is_decided_fast() -> None:
    rules = retail_rules()
    assert rules and all(rule.fast is not None for rule in rules)


def _rule(when: dict[str, Any]) -> Rule:
    policy = parse_policy(
        {
            "version": 1,
            "rules": [{"id": "r", "tools": ["*"], "verdict": "deny", "reason": "no", "when": when}],
        },
        "inline.yaml",
    )
    return policy.rules[0]


def test_where_implementations_may_differ_only_the_reference_decides() -> None:
    for when in (
        {"properties": {"input": {"properties": {"email": {"pattern": "^\\d+$"}}}}},
        {"properties": {"facts": {"patternProperties": {"^r": {"type": "number"}}}}},
        {"properties": {"input": {"properties": {"n": {"multipleOf": 0.1}}}}},
        {"properties": {"input": {"properties": {"email": {"format": "email"}}}}},
        {"properties": {"input": {"uniqueItems": True}}},
    ):
        rule = _rule(when)
        assert rule.fast is None, when
        assert rule.check("t", "read", {"input": {"email": "١٢", "n": 0.3}}).matched in (
            True,
            False,
        )
    # Python's re reads Arabic-Indic digits as \d; an ECMA engine would not: the reference decides
    digits = _rule({"properties": {"input": {"properties": {"email": {"pattern": "^\\d+$"}}}}})
    assert digits.check("t", "read", {"tool": "t", "input": {"email": "١٢"}}).matched


class Loud(float):
    """A number the fast validator would read as a plain float."""

    def __gt__(self, other: object) -> bool:
        raise TypeError("cannot compare")


def test_anything_but_plain_json_is_decided_by_the_reference_alone() -> None:
    rule = _rule({"properties": {"input": {"properties": {"at": {"type": "string"}}}}})
    assert rule.fast is not None
    document = {"tool": "t", "input": {"at": datetime(2026, 1, 1, tzinfo=UTC)}}
    assert not plain_json(document)
    assert not rule.check("t", "read", document, plain=False).matched
    plain = {"tool": "t", "input": {"at": "2026-01-01"}}
    assert plain_json(plain) and rule.check("t", "read", plain, plain=True).matched
    for odd in (Loud(1), (1, 2), {1: "a"}, {"a": {"b": [True, Loud(2)]}}, b"x"):
        assert not plain_json({"tool": "t", "input": {"x": odd}}), odd


@given(document=JSON)
def test_generated_json_is_plain(document: Any) -> None:
    assert plain_json(document)


def test_the_retail_facts_are_plain_json_so_the_fast_conditions_decide_them() -> None:
    from tools.retail.facts import RetailFacts

    facts = RetailFacts(
        authenticated=True,
        customer_id="u1",
        touches_account=True,
        target_user_id="u1",
        owns_target=True,
        order_status="pending",
        status_allowed=True,
        refund_total=12.5,
        refunds_last_30_days=1,
    )
    assert plain_json({"tool": "t", "input": {"order_id": "#W1"}, "facts": facts.model_dump()})
