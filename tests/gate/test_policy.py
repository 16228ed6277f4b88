"""Policy loading, the retail rules, malformed files, and properties of evaluation."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.gate.policy import Decision, Policy, strictness
from agent.gate.policy_file import PolicyError, check_tools, load_policy, parse_policy
from agent.registry import Effect
from agent.transcript.events import Verdict
from tests.budget import examples

RETAIL = Path(str(files("policies").joinpath("retail.yaml")))
READS = [
    "find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details",
    "get_order_details", "get_product_details", "get_item_details",
    "list_all_product_types", "calculate", "transfer_to_human_agents",
]  # fmt: skip
WRITES = [
    "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
    "modify_pending_order_items", "exchange_delivered_order_items",
    "return_delivered_order_items", "modify_user_address",
]  # fmt: skip
FACT_KEYS = [
    "authenticated", "customer_id", "touches_account", "target_user_id", "owns_target",
    "order_status", "status_allowed", "refund_total", "refunds_last_30_days",
]  # fmt: skip


def known_effects() -> dict[str, Effect]:
    """Every retail tool with its effect."""
    return {tool: "write" if tool in WRITES else "read" for tool in READS + WRITES}


@pytest.fixture(scope="module")
def retail() -> Policy:
    return load_policy(RETAIL)


def facts(**changes: Any) -> dict[str, Any]:
    """An authenticated customer acting on their own pending order, no refund."""
    base: dict[str, Any] = {
        "authenticated": True, "customer_id": "sara_doe_496", "touches_account": True,
        "target_user_id": "sara_doe_496", "owns_target": True, "order_status": "pending",
        "status_allowed": True, "refund_total": 0.0, "refunds_last_30_days": 0,
    }  # fmt: skip
    return base | changes


def anonymous(**changes: Any) -> dict[str, Any]:
    """Nobody authenticated yet, nothing known."""
    return dict.fromkeys(FACT_KEYS) | {"authenticated": False} | changes


# --- the retail policy -------------------------------------------------------------------


def test_retail_loads(retail: Policy) -> None:
    assert len(retail.rules) == 7
    assert retail.roles == ("team-lead",)
    check_tools(retail, known_effects())


def test_unauthenticated_account_read_denied(retail: Policy) -> None:
    d = retail.evaluate(
        "get_user_details", "read", {"user_id": "x"}, anonymous(touches_account=True)
    )
    assert d.verdict == "deny"
    assert d.rules == ["authenticate-first"]
    assert d.reasons[0].startswith("Authenticate the customer first (email, or name and zip)")


@pytest.mark.parametrize("value", [None, False, "yes", 1])
def test_anything_but_true_is_not_authenticated(retail: Policy, value: Any) -> None:
    d = retail.evaluate("get_order_details", "read", {}, facts(authenticated=value))
    assert d.verdict == "deny"
    missing = {k: v for k, v in facts().items() if k != "authenticated"}
    assert retail.evaluate("get_order_details", "read", {}, missing).verdict == "deny"


def test_unknown_touches_account_fails_closed(retail: Policy) -> None:
    d = retail.evaluate("calculate", "read", {}, anonymous())
    assert d.verdict == "deny"


@pytest.mark.parametrize("tool", ["find_user_id_by_email", "find_user_id_by_name_zip"])
def test_unauthenticated_find_allowed(retail: Policy, tool: str) -> None:
    d = retail.evaluate(tool, "read", {"email": "a@b.c"}, anonymous(touches_account=False))
    assert d.verdict == "allow"
    assert d.defaulted and d.rules == []


def test_other_customers_order_denied(retail: Policy) -> None:
    other = facts(target_user_id="noah_1", owns_target=False)
    d = retail.evaluate("get_order_details", "read", {"order_id": "#W1"}, other)
    assert (d.verdict, d.rules) == ("deny", ["own-account-only"])
    assert "own account and orders" in d.reasons[0]
    assert retail.evaluate("cancel_pending_order", "write", {}, other).verdict == "deny"


def test_unknown_ownership_does_not_deny(retail: Policy) -> None:
    d = retail.evaluate("get_user_details", "read", {}, facts(owns_target=None))
    assert d.verdict == "allow"


@pytest.mark.parametrize(
    ("tool", "status", "rule", "words"),
    [
        ("cancel_pending_order", "delivered", "pending-orders-only", "not pending"),
        ("modify_pending_order_items", "cancelled", "pending-orders-only", "not pending"),
        ("return_delivered_order_items", "pending", "delivered-orders-only", "not been delivered"),
        ("exchange_delivered_order_items", "processed", "delivered-orders-only", "delivered"),
    ],
)
def test_wrong_status_denied(retail: Policy, tool: str, status: str, rule: str, words: str) -> None:
    d = retail.evaluate(tool, "write", {}, facts(order_status=status, status_allowed=False))
    assert d.verdict == "deny"
    assert d.rules[0] == rule
    assert words in d.reasons[0]


@pytest.mark.parametrize("tool", WRITES)
def test_ordinary_write_needs_confirmation(retail: Policy, tool: str) -> None:
    d = retail.evaluate(tool, "write", {}, facts(refund_total=42.0))
    assert (d.verdict, d.rules, d.role) == ("confirm", ["confirm-writes"], None)
    assert "confirm" in d.reasons[0]


@pytest.mark.parametrize("tool", READS)
def test_reads_of_own_account_allowed(retail: Policy, tool: str) -> None:
    assert retail.evaluate(tool, "read", {}, facts()).verdict == "allow"


@pytest.mark.parametrize(
    "tool", ["cancel_pending_order", "return_delivered_order_items", "modify_pending_order_items"]
)
def test_refund_threshold(retail: Policy, tool: str) -> None:
    big = retail.evaluate(tool, "write", {}, facts(refund_total=500.01))
    assert (big.verdict, big.role) == ("approve", "team-lead")
    assert big.rules == ["lead-approves-large-refunds", "confirm-writes"]
    assert big.reasons[0] == "Refunds over $500 need a team lead's approval."
    assert retail.evaluate(tool, "write", {}, facts(refund_total=500)).verdict == "confirm"


@pytest.mark.parametrize(
    "tool", ["exchange_delivered_order_items", "modify_pending_order_items", "cancel_pending_order"]
)
def test_large_payout_by_any_tool_needs_a_lead(retail: Policy, tool: str) -> None:
    # An exchange to a cheaper variant pays the customer too (issue 8, hole 3).
    d = retail.evaluate(tool, "write", {}, facts(refund_total=900))
    assert (d.verdict, d.role) == ("approve", "team-lead")
    assert retail.evaluate(tool, "write", {}, facts(refund_total=499)).verdict == "confirm"


@pytest.mark.parametrize(
    "tool",
    [
        "cancel_pending_order",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
        "modify_pending_order_items",
    ],
)
def test_third_refund_in_30_days_needs_approval(retail: Policy, tool: str) -> None:
    third = retail.evaluate(tool, "write", {}, facts(refunds_last_30_days=2, refund_total=10))
    assert (third.verdict, third.role) == ("approve", "team-lead")
    assert third.rules[0] == "lead-approves-frequent-refunds"
    again = facts(refunds_last_30_days=1, refund_total=10)
    assert retail.evaluate(tool, "write", {}, again).verdict == "confirm"
    # A swap that pays the customer nothing is no refund.
    free = facts(refunds_last_30_days=5, refund_total=0)
    assert retail.evaluate(tool, "write", {}, free).verdict == "confirm"


def test_both_approve_rules_give_first_role(retail: Policy) -> None:
    d = retail.evaluate(
        "cancel_pending_order", "write", {}, facts(refund_total=800, refunds_last_30_days=5)
    )
    assert d.verdict == "approve"
    assert d.rules[:2] == ["lead-approves-large-refunds", "lead-approves-frequent-refunds"]
    assert d.role == "team-lead"


@pytest.mark.parametrize("tool", WRITES)
@pytest.mark.parametrize("authenticated", [None, True])
def test_null_facts_never_allow_a_write(retail: Policy, tool: str, authenticated: Any) -> None:
    nulls = dict.fromkeys(FACT_KEYS) | {"authenticated": authenticated}
    for known in (nulls, {}, {"authenticated": authenticated}):
        d = retail.evaluate(tool, "write", {}, known)
        assert strictness(d.verdict) >= strictness("confirm")


def test_strictest_wins_and_reasons_follow(retail: Policy) -> None:
    d = retail.evaluate(
        "cancel_pending_order", "write", {},
        anonymous(touches_account=True, refund_total=900.0, refunds_last_30_days=3),
    )  # fmt: skip
    assert d.verdict == "deny"
    assert d.rules == [
        "authenticate-first", "lead-approves-large-refunds",
        "lead-approves-frequent-refunds", "confirm-writes",
    ]  # fmt: skip
    assert d.reasons[0].startswith("Authenticate")
    assert d.role is None


def test_explain_says_why(retail: Policy) -> None:
    d = retail.evaluate("get_order_details", "read", {}, facts())
    why = {c.rule_id: c for c in d.explain}
    assert len(d.explain) == 7
    assert why["pending-orders-only"].why == "tool not listed"
    assert why["confirm-writes"].why == "effect read not in [write]"
    assert why["own-account-only"].why == "when: facts.owns_target is true, the rule needs false"
    assert not any(c.matched for c in d.explain)


# --- failing closed while evaluating ----------------------------------------------------


class Unorderable(float):
    """A number whose comparisons raise, like a fact the domain computed badly."""

    def __le__(self, other: object) -> bool:
        raise TypeError("cannot compare")

    __lt__ = __ge__ = __gt__ = __le__


def test_rule_error_denies_the_whole_call(retail: Policy) -> None:
    d = retail.evaluate("cancel_pending_order", "write", {}, facts(refund_total=Unorderable(1)))
    assert d.verdict == "deny"
    assert d.reasons == ["policy evaluation error in rule lead-approves-large-refunds"]
    broken = next(c for c in d.explain if c.rule_id == "lead-approves-large-refunds")
    assert broken.why.startswith("error: TypeError")


def test_bad_effect_denies(retail: Policy) -> None:
    d = retail.evaluate("mystery", "delete", {}, facts())  # type: ignore[arg-type]
    assert d.verdict == "deny"
    assert d.reasons[0].startswith("policy evaluation error")


def test_writes_cannot_default_to_allow() -> None:
    with pytest.raises(ValueError, match="allow"):
        Policy(source="x", rules=(), default_write="allow")


# --- malformed files ---------------------------------------------------------------------

GOOD_RULES = """\
  - id: first
    tools: ["*"]
    verdict: confirm
    reason: ok
  - id: second
    tools: [a, b]
    verdict: allow
    reason: ok
"""


def write(tmp_path: Path, body: str, head: str = "version: 1\nroles: [team-lead]\n") -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(head + "rules:\n" + GOOD_RULES + body)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  - {id: x, tools: [a], verdict: maybe, reason: r}\n",
            "rule 'x' (rules[2]) field 'verdict': 'maybe' is not one of ['allow', 'confirm', ",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny}\n",
            "rule 'x' (rules[2]) field 'reason': 'reason'",
        ),
        ("  - {id: x, tools: [a], verdict: deny, reason: ''}\n", "field 'reason': '' should be"),
        ("  - {tools: [a], verdict: deny, reason: r}\n", "rules[2] field 'id': 'id' is a required"),
        (
            "  - {id: x, tools: [a], verdict: approve, reason: r}\n",
            "rule 'x' (rules[2]) field 'role'",
        ),
        (
            "  - {id: x, tools: [a], verdict: approve, role: manager, reason: r}\n",
            "rule 'x' (rules[2]) field 'role': role 'manager' is not declared",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, role: team-lead, reason: r}\n",
            "field 'role': role is only allowed with verdict approve",
        ),
        (
            "  - {id: first, tools: [a], verdict: deny, reason: r}\n",
            "rule 'first' (rules[2]) field 'id': duplicate",
        ),
        (
            "  - {id: x, tools: [], verdict: deny, reason: r}\n",
            "field 'tools': [] should be non-empty",
        ),
        (
            "  - {id: x, tools: [a], effects: [delete], verdict: deny, reason: r}\n",
            "field 'effects[0]'",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r, colour: red}\n",
            "field 'colour': Additional",
        ),
        (
            "  - {id: Bad Id, tools: [a], verdict: deny, reason: r}\n",
            "field 'id': 'Bad Id' does not match",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r, when: {type: nonsense}}\n",
            "rule 'x' (rules[2]) field 'when.type': 'nonsense' is not valid",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r,\n"
            "     when: {properties: {n: {pattern: '('}}}}\n",
            "field 'when.properties.n.pattern': '(' is not a 'regex'",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r,\n"
            "     when: {properties: {n: {exclusiveMinimun: 5}}}}\n",
            "field 'when.properties.n.exclusiveMinimun': unknown JSON Schema keyword "
            "'exclusiveMinimun' (did you mean 'exclusiveMinimum'?)",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r,\n"
            "     when: {allOf: [{$ref: '#/$defs/no'}]}}\n",
            "field 'when.allOf[0].$ref': $ref '#/$defs/no' does not resolve",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r, when: {const: 2024-01-01}}\n",
            "rule 'x' (rules[2]) field 'when': not plain JSON",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r, when: {$ref: 'https://x.test/s'}}\n",
            "field 'when.$ref'",
        ),
        (
            "  - {id: x, tools: [a], verdict: deny, reason: r, when: null}\n",
            "field 'when': None is not",
        ),
    ],
)
def test_bad_rule_is_named(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    count = len(caught.value.problems)
    assert ("\n" not in message) if count == 1 else f"{count} problems:\n" in message


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("version: 1\ncolour: red\n", ": field 'colour': Additional properties are not allowed"),
        ("version: 2\n", ": field 'version': 1 was expected"),
        ("roles: [team-lead]\n", ": field 'version': 'version' is a required property"),
        ("version: 1\ndefaults: {write: allow}\n", ": field 'defaults.write': 'allow' is not one"),
        ("version: 1\nsettings: {refund_limit: 3}\n", ": field 'settings.refund_limit'"),
    ],
)
def test_bad_top_level_is_named(tmp_path: Path, head: str, expected: str) -> None:
    path = write(tmp_path, "", head=head)
    with pytest.raises(PolicyError, match=str(path)) as caught:
        load_policy(path)
    assert expected in str(caught.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - id: x\n    tools: [a\n    verdict: deny\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: line ")
    assert "invalid YAML" in str(caught.value)


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  - id: x\n    tools: [a]\n    verdict: allow\n    verdict: deny\n    reason: r\n",
    )
    with pytest.raises(
        PolicyError, match=r"line 15, column 5: invalid YAML: duplicate key 'verdict'"
    ):
        load_policy(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match="is not of type 'object'"):
        load_policy(path)


def test_missing_file() -> None:
    with pytest.raises(PolicyError, match=r"nowhere\.yaml: cannot read"):
        load_policy("nowhere.yaml")


def test_check_tools_names_rule_and_field(retail: Policy) -> None:
    known = known_effects()
    del known["cancel_pending_order"]
    with pytest.raises(
        PolicyError, match=r"rule 'pending-orders-only' \(rules\[2\]\) field 'tools\[0\]'"
    ):
        check_tools(retail, known)
    known = dict.fromkeys(READS + WRITES, "read")
    with pytest.raises(PolicyError, match="cancel_pending_order is a read tool"):
        check_tools(retail, known)


# --- properties --------------------------------------------------------------------------

TOOLS = ["a", "b", "c"]
KEYS = ["x", "y", "z"]
ROLES = ["lead", "manager"]
VERDICTS: list[Verdict] = ["allow", "confirm", "approve", "deny"]
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=2)
VALUES = SCALARS | st.floats() | st.lists(SCALARS, max_size=2)
CONDITIONS = st.one_of(
    st.none(),
    st.booleans(),
    st.builds(
        lambda k, v: {"required": ["facts"],
                      "properties": {"facts": {"required": [k], "properties": {k: {"const": v}}}}},
        st.sampled_from(KEYS), SCALARS,
    ),
    st.builds(
        lambda k, n: {"properties": {"facts": {"properties": {k: {"exclusiveMinimum": n}}}}},
        st.sampled_from(KEYS), st.integers(-3, 3),
    ),
    st.builds(
        lambda k, t: {"properties": {"input": {"required": [k], "properties": {k: {"type": t}}}}},
        st.sampled_from(KEYS), st.sampled_from(["string", "integer", "boolean", "null", "array"]),
    ),
    st.builds(lambda t: {"properties": {"tool": {"const": t}}}, st.sampled_from(TOOLS)),
    st.builds(lambda k: {"properties": {"facts": {"not": {"required": [k]}}}},
              st.sampled_from(KEYS)),
)  # fmt: skip


@st.composite
def rule_data(draw: st.DrawFn, index: int, verdict: str | None = None) -> dict[str, Any]:
    verdict = verdict or draw(st.sampled_from(VERDICTS))
    rule: dict[str, Any] = {
        "id": f"r{index}",
        "tools": draw(
            st.lists(st.sampled_from([*TOOLS, "*"]), min_size=1, max_size=3, unique=True)
        ),
        "verdict": verdict,
        "reason": f"reason {index}",
    }
    effects = draw(
        st.none() | st.lists(st.sampled_from(["read", "write"]), min_size=1, unique=True)
    )
    if effects is not None:
        rule["effects"] = effects
    when = draw(CONDITIONS)
    if when is not None:
        rule["when"] = when
    if verdict == "approve":
        rule["role"] = draw(st.sampled_from(ROLES))
    return rule


@st.composite
def policy_data(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 6))
    data: dict[str, Any] = {
        "version": 1,
        "roles": ROLES,
        "rules": [draw(rule_data(i)) for i in range(count)],
    }
    if draw(st.booleans()):
        data["defaults"] = {"read": draw(st.sampled_from(["allow", "confirm", "deny"])),
                            "write": draw(st.sampled_from(["confirm", "deny"]))}  # fmt: skip
    return data


CALLS = st.tuples(
    st.sampled_from([*TOOLS, "unlisted"]),
    st.sampled_from(["read", "write"]),
    st.dictionaries(st.sampled_from(KEYS), VALUES),
    st.dictionaries(st.sampled_from(KEYS), VALUES),
)


def matched_verdicts(decision: Decision) -> list[Verdict]:
    return [c.verdict for c in decision.explain if c.matched]


@settings(max_examples=examples(300), deadline=None)
@given(policy_data(), CALLS)
def test_verdict_is_strictest_match_or_default(data: dict[str, Any], call: tuple[Any, ...]) -> None:
    policy = parse_policy(data)
    tool, effect, input, known = call
    d = policy.evaluate(tool, effect, input, known)
    assert len(d.explain) == len(policy.rules)
    matched = matched_verdicts(d)
    if matched:
        assert d.verdict == max(matched, key=strictness)
        assert not d.defaulted
        assert sorted(d.rules) == sorted(c.rule_id for c in d.explain if c.matched)
    else:
        assert d.defaulted and d.verdict == policy.default_for(effect)
    assert len(d.rules) <= len(d.reasons)
    assert (d.role is not None) == (d.verdict == "approve")
    if effect == "write" and d.verdict == "allow":
        assert "allow" in matched and all(v == "allow" for v in matched)


@settings(max_examples=examples(300), deadline=None)
@given(policy_data(), CALLS, st.data())
def test_adding_a_deny_rule_only_denies(
    data: dict[str, Any], call: tuple[Any, ...], extra: st.DataObject
) -> None:
    tool, effect, input, known = call
    before = parse_policy(data).evaluate(tool, effect, input, known)
    deny = extra.draw(rule_data(len(data["rules"]), verdict="deny"))
    policy = parse_policy({**data, "rules": [*data["rules"], deny]})
    after = policy.evaluate(tool, effect, input, known)
    if after.explain[-1].matched:
        assert after.verdict == "deny"
        assert deny["id"] in after.rules
    else:
        assert after.verdict == before.verdict
    assert strictness(after.verdict) >= strictness(before.verdict)


@settings(max_examples=examples(200), deadline=None)
@given(st.sampled_from(READS + WRITES), st.dictionaries(st.sampled_from(FACT_KEYS), VALUES))
def test_retail_never_raises_and_never_allows_writes(
    retail: Policy, tool: str, known: dict[str, Any]
) -> None:
    effect: Effect = "write" if tool in WRITES else "read"
    d = retail.evaluate(tool, effect, {"order_id": "#W1"}, known)
    if effect == "write":
        assert d.verdict != "allow"
