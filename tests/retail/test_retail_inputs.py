"""Tool definitions and input validation, as the engine sees them through the registry."""

from __future__ import annotations

from typing import Any

import pytest

from agent.registry import FieldProblem
from tools.retail import DOMAIN
from tools.retail.inputs import CancelOrder, SwapItems
from tools.retail.summaries import summarize_cancel, summarize_modify_items
from tools.retail.tables import RetailOrder, RetailUser

WRITES = {
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "exchange_delivered_order_items",
    "return_delivered_order_items",
    "modify_user_address",
}


def problems(tool, raw):
    spec = DOMAIN.registry.get(tool)
    assert spec is not None
    result = DOMAIN.registry.validate(spec, raw)
    assert isinstance(result, list), f"{tool} accepted {raw}"
    assert all(isinstance(p, FieldProblem) for p in result)
    return {p.field: p for p in result}


def test_tool_set_and_effects():
    tools = DOMAIN.registry.tools
    assert len(tools) == 16
    assert {name for name, t in tools.items() if t.effect == "write"} == WRITES
    for tool in tools.values():
        assert len(tool.description) > 60, tool.name
        if tool.effect == "write":
            assert tool.summarize is not None, tool.name


def test_api_schemas_describe_every_field():
    for entry in DOMAIN.registry.api_tools():
        schema = entry["input_schema"]
        assert "title" not in schema
        for name, prop in schema.get("properties", {}).items():
            described = "description" in prop or "$ref" in prop
            assert described, f"{entry['name']}.{name}"


@pytest.mark.parametrize(
    ("tool", "raw", "field"),
    [
        ("cancel_pending_order", {"order_id": "#W1", "reason": "changed my mind"}, "reason"),
        ("cancel_pending_order", {"order_id": "W1", "reason": "no longer needed"}, "order_id"),
        ("cancel_pending_order", {"order_id": "#W1"}, "reason"),
        (
            "cancel_pending_order",
            {"order_id": "#W1", "reason": "no longer needed", "refund": 5},
            "refund",
        ),
        (
            "modify_pending_order_items",
            {"order_id": "#W1", "item_ids": [], "new_item_ids": [], "payment_method_id": "p"},
            "item_ids",
        ),
        (
            "modify_pending_order_items",
            {
                "order_id": "#W1",
                "item_ids": "101",
                "new_item_ids": ["102"],
                "payment_method_id": "p",
            },
            "item_ids",
        ),
        (
            "return_delivered_order_items",
            {"order_id": "#W1", "item_ids": [""], "payment_method_id": "p"},
            "item_ids.0",
        ),
        ("find_user_id_by_email", {"email": "not-an-email"}, "email"),
        ("find_user_id_by_name_zip", {"first_name": "Ann", "last_name": "Lee"}, "zip"),
        ("calculate", {"expression": "1+" * 300}, "expression"),
        ("modify_user_address", {"user_id": "ann_1", "address1": "x"}, "city"),
        ("list_all_product_types", {"anything": 1}, "anything"),
    ],
)
def test_bad_input_is_rejected_with_the_field(tool, raw, field):
    assert field in problems(tool, raw)


def test_non_object_input_is_rejected():
    assert "(input)" in problems("calculate", ["1+1"])


def test_reason_problem_names_the_choices():
    problem = problems("cancel_pending_order", {"order_id": "#W1", "reason": "meh"})["reason"]
    assert "'no longer needed'" in problem.expected and "'ordered by mistake'" in problem.expected


def test_whitespace_is_trimmed():
    spec = DOMAIN.registry.get("get_order_details")
    assert spec is not None
    parsed = DOMAIN.registry.validate(spec, {"order_id": " #W1 "})
    assert not isinstance(parsed, list), parsed
    assert parsed.model_dump() == {"order_id": "#W1"}


def test_summaries_without_and_with_data(mini):
    spec = DOMAIN.registry.get("cancel_pending_order")
    assert spec is not None
    args = DOMAIN.registry.validate(spec, {"order_id": "#W3", "reason": "no longer needed"})
    assert isinstance(args, CancelOrder), args
    assert spec.describe(args).startswith("Cancel order #W3 (reason: no longer needed)")
    # The summary names the account it acts on (issue 8: "for Mia Hernandez, order #W…").
    summary = summarize_cancel(args, mini)
    owner = mini.get(RetailUser, mini.get(RetailOrder, "#W3").user_id)
    assert summary.startswith(f"For {owner.first_name} {owner.last_name} ({owner.user_id}): ")
    assert summary.endswith(
        "Cancel order #W3 (Widget; reason: no longer needed); $10.00 refunded to credit_card_1 "
        "and $2.50 refunded to gift_card_1."
    )
    spec = DOMAIN.registry.get("modify_pending_order_items")
    assert spec is not None
    args = DOMAIN.registry.validate(
        spec,
        {
            "order_id": "#W1",
            "item_ids": ["201"],
            "new_item_ids": ["202"],
            "payment_method_id": "paypal_1",
        },
    )
    assert isinstance(args, SwapItems), args
    assert "$20.00 more, charged to paypal_1" in summarize_modify_items(args, mini)
    assert "no longer be modified or cancelled" in spec.describe(args)


def test_every_summary_works_with_and_without_data(mini):
    samples: dict[str, Any] = {
        "cancel_pending_order": {"order_id": "#W1", "reason": "ordered by mistake"},
        "modify_pending_order_address": {
            "order_id": "#W1",
            "address1": "1 A St",
            "city": "B",
            "state": "C",
            "country": "D",
            "zip": "E",
        },
        "modify_pending_order_payment": {"order_id": "#W1", "payment_method_id": "paypal_1"},
        "modify_pending_order_items": {
            "order_id": "#W1",
            "item_ids": ["101"],
            "new_item_ids": ["104"],
            "payment_method_id": "paypal_1",
        },
        "exchange_delivered_order_items": {
            "order_id": "#W2",
            "item_ids": ["101"],
            "new_item_ids": ["102"],
            "payment_method_id": "paypal_1",
        },
        "return_delivered_order_items": {
            "order_id": "#W404",
            "item_ids": ["101"],
            "payment_method_id": "paypal_1",
        },
        "modify_user_address": {
            "user_id": "ann_1",
            "address1": "1 A St",
            "city": "B",
            "state": "C",
            "country": "D",
            "zip": "E",
        },
    }
    assert set(samples) == WRITES
    for name, raw in samples.items():
        spec = DOMAIN.registry.get(name)
        assert spec is not None and spec.summarize is not None
        args = DOMAIN.registry.validate(spec, raw)
        plain, detailed = spec.summarize(args, None), spec.summarize(args, mini)
        assert raw.get("order_id", raw.get("user_id")) in plain and detailed
    exchange = DOMAIN.registry.get("exchange_delivered_order_items")
    assert exchange is not None and exchange.summarize is not None
    detailed = exchange.summarize(
        DOMAIN.registry.validate(exchange, samples["exchange_delivered_order_items"]),
        mini,
    )
    assert "Widget 101 (color red) with 102 (color blue)" in detailed
    assert "$2.50 more" in detailed
