"""Read tools: authentication lookups, details, catalog, calculate, transfer."""

from __future__ import annotations

import pytest

from agent.registry import ToolError, ToolOutput


def test_find_by_email_identifies_the_customer(mini, call):
    said = "Hi, this is Ann, ann@example.com"
    args = {"email": " ANN@example.com "}
    result = call(mini, "find_user_id_by_email", args, customer=None, said=said)
    assert result == ToolOutput(content="ann_1", identifies_customer="ann_1")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("find_user_id_by_email", {"email": "ann@example.com"}),
        ("find_user_id_by_name_zip", {"first_name": "Ann", "last_name": "Lee", "zip": "11111"}),
    ],
)
def test_lookup_only_with_what_the_customer_said(mini, call, tool, args):
    # Issue 8, hole 4: the customer says who they are; the model may not look up someone
    # else (a name from an order, another email) and become that customer.
    said = "Hi, I'm Bob (bob@example.com), zip 22222. Can you check Ann Lee's order?"
    with pytest.raises(ToolError, match="has not given"):
        call(mini, tool, args, customer=None, said=said)


def test_find_by_email_unknown(mini, call):
    with pytest.raises(ToolError, match=r"no user with email 'zed@example\.com'"):
        call(
            mini,
            "find_user_id_by_email",
            {"email": "zed@example.com"},
            customer=None,
            said="zed@example.com",
        )


def test_find_by_name_zip_folds_case_and_accents(mini, call):
    args = {"first_name": "ánn", "last_name": "LEE", "zip": "11111"}
    said = "I am Ann Lee from 11111"
    result = call(mini, "find_user_id_by_name_zip", args, customer=None, said=said)
    assert result == ToolOutput(content="ann_1", identifies_customer="ann_1")


def test_find_by_name_zip_needs_the_zip(mini, call):
    with pytest.raises(ToolError, match="no user named Ann Lee with zip 22222"):
        call(
            mini,
            "find_user_id_by_name_zip",
            {"first_name": "Ann", "last_name": "Lee", "zip": "22222"},
            customer=None,
            said="Ann Lee, 22222",
        )


def test_demo_fixture_customer_can_authenticate_both_ways(demo, fx, call):
    said = f"I'm {fx.first_name} {fx.last_name}, {fx.email}, zip {fx.zip}"
    by_email = call(demo, "find_user_id_by_email", {"email": fx.email}, customer=None, said=said)
    by_name = call(
        demo,
        "find_user_id_by_name_zip",
        {"first_name": fx.first_name, "last_name": fx.last_name, "zip": fx.zip},
        customer=None,
        said=said,
    )
    assert by_email.identifies_customer == by_name.identifies_customer == fx.customer_id


def test_user_details_in_dollars_with_orders(mini, call, mini_doc):
    assert call(mini, "get_user_details", {"user_id": "ann_1"}) == mini_doc["users"]["ann_1"]
    with pytest.raises(ToolError, match="user 'nobody' not found"):
        call(mini, "get_user_details", {"user_id": "nobody"})


def test_order_details(mini, call, mini_doc):
    assert call(mini, "get_order_details", {"order_id": "#W2"}) == mini_doc["orders"]["#W2"]


def test_product_and_item_details(mini, call, mini_doc):
    product = call(mini, "get_product_details", {"product_id": "100"})
    assert product == mini_doc["products"]["100"]
    item = call(mini, "get_item_details", {"item_id": "103"})
    assert item == {
        "name": "Widget",
        "product_id": "100",
        "item_id": "103",
        "options": {"color": "green"},
        "available": False,
        "price": 8.0,
    }
    with pytest.raises(ToolError, match="product '101' not found"):
        call(mini, "get_product_details", {"product_id": "101"})
    with pytest.raises(ToolError, match="item '100' not found"):
        call(mini, "get_item_details", {"item_id": "100"})


def test_list_all_product_types_sorted_by_name(mini, call):
    result = call(mini, "list_all_product_types", {})
    assert list(result.items()) == [("Gadget", "200"), ("Widget", "100")]


def test_calculate_tool(mini, call):
    assert call(mini, "calculate", {"expression": "(120 - 7.25) / 2"}) == 56.38
    with pytest.raises(ToolError, match="division by zero"):
        call(mini, "calculate", {"expression": "1/0"})


def test_transfer_ends_the_conversation(mini, call):
    result = call(mini, "transfer_to_human_agents", {"summary": "wants a refund to cash"})
    assert result == ToolOutput(content="Transfer successful", ends_conversation=True)


def test_order_not_found_hints_at_the_hash(mini, context):
    from tools.retail.orders import get_order

    with pytest.raises(ToolError, match="order 'W1' not found \\(order ids start with '#'\\)"):
        get_order(context(mini).session, "W1")
