"""The registry: API schemas from Pydantic models, validation feedback, argument hashes."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from agent.gate.clearance import describe_problems
from agent.registry import Tool, ToolRegistry, args_hash
from tests.toy import TOOLS, registry


class Refund(BaseModel):
    order_id: str = Field(pattern=r"^#W\d+$", description="Order id, e.g. #W123")
    reason: Literal["no longer needed", "ordered by mistake"]
    amount: float = Field(gt=0)


def refund_tool() -> Tool:
    return Tool(
        "refund", "Refund an order when the customer asks.", Refund, "write", lambda ctx, args: "ok"
    )


def test_api_schema_comes_from_the_pydantic_model():
    schema = refund_tool().api_schema()
    assert schema["name"] == "refund"
    assert schema["description"].startswith("Refund an order")
    props = schema["input_schema"]["properties"]
    assert props["order_id"]["description"] == "Order id, e.g. #W123"
    assert props["reason"]["enum"] == ["no longer needed", "ordered by mistake"]
    assert sorted(schema["input_schema"]["required"]) == ["amount", "order_id", "reason"]
    assert "title" not in schema["input_schema"] and "title" not in props["amount"]


def test_registry_lists_tools_in_order_and_refuses_duplicates():
    reg = registry()
    assert [t["name"] for t in reg.api_tools()] == [t.name for t in TOOLS]
    with pytest.raises(ValueError, match="registered twice"):
        ToolRegistry.of([refund_tool(), refund_tool()])


def test_validation_problems_name_field_problem_expected_and_got():
    tool = refund_tool()
    problems = ToolRegistry.of([tool]).validate(
        tool, {"order_id": "W1", "reason": "changed my mind", "extra": 1}
    )
    assert isinstance(problems, list)
    by_field = {p.field: p for p in problems}
    assert by_field["order_id"].got == "W1" and "^#W" in by_field["order_id"].expected
    assert "no longer needed" in by_field["reason"].expected
    assert by_field["amount"].expected == "a value (this field is required)"
    text = describe_problems("refund", problems)
    assert text.startswith("Invalid input for tool refund:")
    assert "- reason:" in text and "got 'changed my mind'" in text


@pytest.mark.parametrize("raw", [None, [], "order", 3])
def test_non_object_input_is_a_problem_not_a_crash(raw):
    tool = refund_tool()
    problems = ToolRegistry.of([tool]).validate(tool, raw)
    assert isinstance(problems, list) and problems[0].expected == "object"


def test_describe_without_a_summarizer_lists_arguments():
    args = Refund(order_id="#W1", reason="ordered by mistake", amount=2.5)
    assert refund_tool().describe(args) == (
        "refund(order_id='#W1', reason='ordered by mistake', amount=2.5)"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_args_hash_ignores_key_order_and_binds_the_tool(args):
    reordered = dict(reversed(list(args.items())))
    assert args_hash("t", args) == args_hash("t", reordered)
    assert args_hash("t", args) != args_hash("u", args)


def test_args_hash_changes_with_any_argument():
    assert args_hash("t", {"a": 1}) != args_hash("t", {"a": 2})
    assert args_hash("t", {"a": [1, 2]}) != args_hash("t", {"a": [2, 1]})
