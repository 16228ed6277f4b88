"""Write tools on the mini store: exact effects on success, and refusals change nothing."""

from __future__ import annotations

import pytest

from agent.registry import ToolError
from tools.retail import DOMAIN
from tools.retail.inputs import CancelOrder
from tools.retail.write_tools import PRECHECKS, cancel_pending_order


def pay(amount, method, kind="payment"):
    return {"transaction_type": kind, "amount": amount, "payment_method_id": method}


def balance(session, snapshot, card, user="ann_1"):
    return snapshot(session)[0]["users"][user]["payment_methods"][card]["balance"]


NEW_ADDRESS = {
    "address1": "9 Elm Road",
    "address2": "Unit 2",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78702",
}


def test_cancel_refunds_the_single_payment(mini, call, snapshot):
    order = call(mini, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "no longer needed"
    assert order["payment_history"] == [
        pay(120.0, "credit_card_1"),
        pay(120.0, "credit_card_1", "refund"),
    ]
    assert snapshot(mini)[1] == [("ann_1", "#W1", "cancel", 12000)]


def test_cancel_refunds_each_method_and_credits_gift_card_at_once(mini, call, snapshot):
    order = call(mini, "cancel_pending_order", {"order_id": "#W3", "reason": "ordered by mistake"})
    assert order["payment_history"][2:] == [
        pay(10.0, "credit_card_1", "refund"),
        pay(2.5, "gift_card_1", "refund"),
    ]
    assert balance(mini, snapshot, "gift_card_1") == 7.5
    assert snapshot(mini)[1] == [("ann_1", "#W3", "cancel", 1250)]


def test_modify_address_replaces_order_address(mini, call, snapshot):
    order = call(mini, "modify_pending_order_address", {"order_id": "#W1", **NEW_ADDRESS})
    assert order["address"] == NEW_ADDRESS
    assert order["status"] == "pending"


def test_modify_payment_to_gift_card_then_cancel_refunds_only_the_net(mini, call, snapshot):
    args = {"order_id": "#W1", "payment_method_id": "gift_card_2"}
    order = call(mini, "modify_pending_order_payment", args)
    assert order["payment_history"] == [
        pay(120.0, "credit_card_1"),
        pay(120.0, "gift_card_2"),
        pay(120.0, "credit_card_1", "refund"),
    ]
    assert balance(mini, snapshot, "gift_card_2") == 380.0
    order = call(mini, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    assert order["payment_history"][3:] == [pay(120.0, "gift_card_2", "refund")]
    assert balance(mini, snapshot, "gift_card_2") == 500.0


def test_modify_payment_away_from_gift_card_credits_it(mini, call, snapshot):
    order = call(
        mini, "modify_pending_order_payment", {"order_id": "#W7", "payment_method_id": "paypal_1"}
    )
    assert order["payment_history"][1:] == [
        pay(7.25, "paypal_1"),
        pay(7.25, "gift_card_2", "refund"),
    ]
    assert balance(mini, snapshot, "gift_card_2") == 507.25


def test_modify_items_refund_to_gift_card_and_lock(mini, call, snapshot):
    args = {
        "order_id": "#W1",
        "item_ids": ["101", "101"],
        "new_item_ids": ["102", "104"],
        "payment_method_id": "gift_card_2",
    }
    order = call(mini, "modify_pending_order_items", args)
    assert order["status"] == "pending (item modified)"
    assert [(i["item_id"], i["price"], i["options"]) for i in order["items"]] == [
        ("102", 12.5, {"color": "blue"}),
        ("104", 7.25, {"color": "black"}),
        ("201", 100.0, {"color": "silver"}),
    ]
    assert order["payment_history"][1:] == [pay(0.25, "gift_card_2", "refund")]
    assert balance(mini, snapshot, "gift_card_2") == 500.25
    before = snapshot(mini)
    with pytest.raises(ToolError, match=r"is pending \(item modified\), not pending"):
        call(mini, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    with pytest.raises(ToolError, match="not pending"):
        call(mini, "modify_pending_order_items", args)
    assert snapshot(mini) == before


def test_modify_items_positive_difference_charges_the_method(mini, call, snapshot):
    args = {
        "order_id": "#W1",
        "item_ids": ["201"],
        "new_item_ids": ["202"],
        "payment_method_id": "credit_card_1",
    }
    order = call(mini, "modify_pending_order_items", args)
    assert order["payment_history"][1:] == [pay(20.0, "credit_card_1")]
    assert order["items"][2]["item_id"] == "202"
    assert balance(mini, snapshot, "gift_card_2") == 500.0


def test_modify_items_zero_difference_records_no_payment(mini, call):
    args = {
        "order_id": "#W1",
        "item_ids": ["101"],
        "new_item_ids": ["105"],
        "payment_method_id": "paypal_1",
    }
    order = call(mini, "modify_pending_order_items", args)
    assert [i["item_id"] for i in order["items"]] == ["105", "101", "201"]
    assert order["payment_history"] == [pay(120.0, "credit_card_1")]


def test_exchange_records_request_and_moves_no_money(mini, call, snapshot):
    before = snapshot(mini)
    args = {
        "order_id": "#W2",
        "item_ids": ["201", "101"],
        "new_item_ids": ["202", "102"],
        "payment_method_id": "gift_card_2",
    }
    order = call(mini, "exchange_delivered_order_items", args)
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == ["101", "201"]
    assert order["exchange_new_items"] == ["102", "202"]
    assert order["exchange_payment_method_id"] == "gift_card_2"
    assert order["exchange_price_difference"] == 22.5
    assert order["payment_history"] == [pay(110.0, "paypal_1")]
    assert balance(mini, snapshot, "gift_card_2") == 500.0
    assert snapshot(mini)[1] == before[1]


def test_return_to_original_method_logs_refund(mini, call, snapshot):
    args = {"order_id": "#W2", "item_ids": ["201", "101"], "payment_method_id": "paypal_1"}
    order = call(mini, "return_delivered_order_items", args)
    assert order["status"] == "return requested"
    assert order["return_items"] == ["101", "201"]
    assert order["return_payment_method_id"] == "paypal_1"
    assert order["payment_history"] == [pay(110.0, "paypal_1")]
    assert snapshot(mini)[1] == [("ann_1", "#W2", "return", 11000)]


def test_return_to_a_gift_card_is_allowed(mini, call, snapshot):
    args = {"order_id": "#W2", "item_ids": ["101"], "payment_method_id": "gift_card_1"}
    order = call(mini, "return_delivered_order_items", args)
    assert order["return_payment_method_id"] == "gift_card_1"
    assert balance(mini, snapshot, "gift_card_1") == 5.0  # credited when the items arrive
    assert snapshot(mini)[1] == [("ann_1", "#W2", "return", 1000)]


def test_modify_user_address(mini, call, snapshot):
    result = call(mini, "modify_user_address", {"user_id": "ann_1", **NEW_ADDRESS})
    assert result == {"user_id": "ann_1", "address": NEW_ADDRESS}
    exported = snapshot(mini)[0]
    assert exported["users"]["ann_1"]["address"] == NEW_ADDRESS
    assert exported["orders"]["#W1"]["address"]["zip"] == "11111"


def swap(order_id, old, new, method="credit_card_1"):
    return {"order_id": order_id, "item_ids": old, "new_item_ids": new, "payment_method_id": method}


REFUSALS = [
    (
        "cancel_pending_order",
        {"order_id": "#W5", "reason": "no longer needed"},
        "order #W5 is processed, not pending",
    ),
    (
        "cancel_pending_order",
        {"order_id": "#W404", "reason": "no longer needed"},
        "order '#W404' not found",
    ),
    (
        "modify_pending_order_address",
        {"order_id": "#W2", **NEW_ADDRESS},
        "order #W2 is delivered, not pending",
    ),
    ("modify_user_address", {"user_id": "nobody", **NEW_ADDRESS}, "user 'nobody' not found"),
    (
        "modify_pending_order_payment",
        {"order_id": "#W5", "payment_method_id": "paypal_1"},
        "is processed, not pending",
    ),
    (
        "modify_pending_order_payment",
        {"order_id": "#W3", "payment_method_id": "paypal_1"},
        "has 2 payment entries",
    ),
    (
        "modify_pending_order_payment",
        {"order_id": "#W1", "payment_method_id": "credit_card_1"},
        "already paid with credit_card_1",
    ),
    (
        "modify_pending_order_payment",
        {"order_id": "#W1", "payment_method_id": "credit_card_2"},
        "'credit_card_2' is not one of user ann_1's payment methods",
    ),
    (
        "modify_pending_order_payment",
        {"order_id": "#W1", "payment_method_id": "gift_card_1"},
        "gift card gift_card_1 has $5.00, less than the $120.00 to pay",
    ),
    ("modify_pending_order_items", swap("#W2", ["101"], ["102"]), "is delivered, not pending"),
    ("modify_pending_order_items", swap("#W1", ["102"], ["101"]), "item 102 is not in order #W1"),
    (
        "modify_pending_order_items",
        swap("#W1", ["201", "201"], ["202", "202"]),
        "order #W1 has 1 of item 201, but 2 were listed",
    ),
    (
        "modify_pending_order_items",
        swap("#W1", ["101", "201"], ["102"]),
        "item_ids has 2 ids but new_item_ids has 1",
    ),
    (
        "modify_pending_order_items",
        swap("#W1", ["101"], ["103"]),
        "item 103 (Widget) is not available",
    ),
    (
        "modify_pending_order_items",
        swap("#W1", ["101"], ["202"]),
        "item 202 is a variant of Gadget (product 200), not of Widget (product 100)",
    ),
    ("modify_pending_order_items", swap("#W1", ["101"], ["101"]), "nothing to modify in order #W1"),
    ("modify_pending_order_items", swap("#W1", ["101"], ["999"]), "item '999' not found"),
    (
        "modify_pending_order_items",
        swap("#W1", ["101"], ["102"], "credit_card_2"),
        "not one of user ann_1's payment methods",
    ),
    (
        "modify_pending_order_items",
        swap("#W1", ["201"], ["202"], "gift_card_1"),
        "gift card gift_card_1 has $5.00, less than the $20.00 to pay",
    ),
    ("exchange_delivered_order_items", swap("#W1", ["101"], ["102"]), "is pending, not delivered"),
    (
        "exchange_delivered_order_items",
        swap("#W2", ["201"], ["202"], "gift_card_1"),
        "less than the $20.00 to pay",
    ),
    (
        "exchange_delivered_order_items",
        swap("#W2", ["101", "101"], ["102", "104"]),
        "order #W2 has 1 of item 101, but 2 were listed",
    ),
    ("exchange_delivered_order_items", swap("#W2", ["101"], ["103"]), "is not available"),
    (
        "exchange_delivered_order_items",
        swap("#W2", ["101"], ["102"], "paypal_9"),
        "'paypal_9' is not one of user ann_1's payment methods",
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W1", "item_ids": ["101"], "payment_method_id": "credit_card_1"},
        "is pending, not delivered",
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W2", "item_ids": ["102"], "payment_method_id": "paypal_1"},
        "item 102 is not in order #W2",
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W2", "item_ids": ["101", "101"], "payment_method_id": "paypal_1"},
        "has 1 of item 101, but 2 were listed",
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W2", "item_ids": ["101"], "payment_method_id": "credit_card_1"},
        "original payment method (paypal_1) or one of the user's gift cards, not credit_card_1",
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W2", "item_ids": ["101"], "payment_method_id": "credit_card_2"},
        "not one of user ann_1's payment methods",
    ),
]


@pytest.mark.parametrize(("tool", "args", "message"), REFUSALS)
def test_refusal_changes_nothing(mini, call, snapshot, tool, args, message):
    before = snapshot(mini)
    with pytest.raises(ToolError) as refused:
        call(mini, tool, args)
    assert message in str(refused.value)
    assert snapshot(mini) == before


@pytest.mark.parametrize(("tool", "args", "message"), REFUSALS)
def test_prechecks_refuse_what_the_tool_refuses_and_change_nothing(
    mini, context, snapshot, tool, args, message
):
    spec = DOMAIN.registry.get(tool)
    assert spec is not None and spec.effect == "write"
    parsed = DOMAIN.registry.validate(spec, args)
    assert not isinstance(parsed, list), parsed
    before = snapshot(mini)
    with pytest.raises(ToolError) as refused:
        PRECHECKS[tool](context(mini), parsed)
    assert message in str(refused.value)
    assert snapshot(mini) == before


def test_every_write_tool_has_a_precheck():
    writes = {name for name, tool in DOMAIN.registry.tools.items() if tool.effect == "write"}
    assert set(PRECHECKS) == writes


def test_modify_keeps_a_same_variant_line(mini, call):
    order = call(
        mini,
        "modify_pending_order_items",
        swap("#W1", ["101", "201"], ["102", "201"], "credit_card_1"),
    )
    assert [i["item_id"] for i in order["items"]] == ["102", "101", "201"]
    assert order["payment_history"][-1] == pay(2.5, "credit_card_1")  # only the Widget changed


def test_exchange_to_the_same_variant_is_a_replacement_without_price_difference(mini, call):
    order = call(mini, "exchange_delivered_order_items", swap("#W2", ["101"], ["101"], "paypal_1"))
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == order["exchange_new_items"] == ["101"]
    assert order["exchange_price_difference"] == 0


def test_cancel_rejects_an_unknown_reason_even_without_validation(mini, context, snapshot):
    before = snapshot(mini)
    # Deliberately invalid reason, bypassing validation: the wrong value is the point.
    args = CancelOrder.model_construct(order_id="#W1", reason="changed my mind")  # type: ignore[arg-type]
    with pytest.raises(
        ToolError, match="reason must be 'no longer needed' or 'ordered by mistake'"
    ):
        cancel_pending_order(context(mini), args)
    assert snapshot(mini) == before


def test_write_tools_never_commit(mini, call):
    call(mini, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    mini.rollback()
    order = call(mini, "get_order_details", {"order_id": "#W1"})
    assert order["status"] == "pending"


def test_demo_fixture_flow(demo, fx, call, snapshot):
    order = call(
        demo,
        "cancel_pending_order",
        {"order_id": fx.pending_order_id, "reason": "ordered by mistake"},
        customer=fx.customer_id,
    )
    total = order["payment_history"][0]["amount"]
    assert order["payment_history"][1] == pay(total, fx.credit_card_id, "refund")
    args = {
        "order_id": fx.large_refund_order_id,
        "item_ids": [
            i["item_id"] for i in snapshot(demo)[0]["orders"][fx.large_refund_order_id]["items"]
        ],
        "payment_method_id": fx.gift_card_id,
    }
    returned = call(demo, "return_delivered_order_items", args, customer=fx.customer_id)
    assert returned["status"] == "return requested"
    kinds = [(log[1], log[2]) for log in snapshot(demo)[1] if log[0] == fx.customer_id]
    assert kinds == [(fx.pending_order_id, "cancel"), (fx.large_refund_order_id, "return")]


def test_demo_fixture_swaps_are_accepted(demo, fx, call):
    args = {
        "order_id": fx.pending_order_id,
        "item_ids": [fx.pending_swap_from],
        "new_item_ids": [fx.pending_swap_to],
        "payment_method_id": fx.credit_card_id,
    }
    assert call(demo, "modify_pending_order_items", args, customer=fx.customer_id)["status"] == (
        "pending (item modified)"
    )
    args = {
        "order_id": fx.delivered_order_id,
        "item_ids": [fx.delivered_swap_from],
        "new_item_ids": [fx.delivered_swap_to],
        "payment_method_id": fx.paypal_id,
    }
    exchanged = call(demo, "exchange_delivered_order_items", args, customer=fx.customer_id)
    assert exchanged["status"] == "exchange requested"


def test_every_write_tool_declares_its_dry_run():
    # The gate runs these before anyone is asked to confirm or approve (issue 8).
    from tools.retail.write_tools import PRECHECKS, WRITE_TOOLS

    assert {t.name: t.precheck for t in WRITE_TOOLS} == PRECHECKS
