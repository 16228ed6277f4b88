"""The facts the policy engine sees for retail calls."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.clock import utcnow
from tools.retail import DOMAIN
from tools.retail.inputs import SwapItems
from tools.retail.tables import RetailRefundLog

KEYS = {
    "authenticated",
    "customer_id",
    "touches_account",
    "target_user_id",
    "owns_target",
    "order_status",
    "status_allowed",
    "refund_total",
    "refunds_last_30_days",
}


def facts(session, context, tool, args, customer="ann_1"):
    spec = DOMAIN.registry.get(tool)
    assert spec is not None
    parsed = DOMAIN.registry.validate(spec, args)
    assert not isinstance(parsed, list), parsed
    return DOMAIN.registry.facts_for(context(session, customer), spec, parsed)


def test_unauthenticated_lookup(mini, context):
    result = facts(mini, context, "find_user_id_by_email", {"email": "ann@example.com"}, None)
    assert result == {
        "authenticated": False,
        "customer_id": None,
        "touches_account": False,
        "target_user_id": None,
        "owns_target": None,
        "order_status": None,
        "status_allowed": None,
        "refund_total": 0.0,
        "refunds_last_30_days": 0,
    }


def test_cancel_own_pending_order(mini, context):
    result = facts(
        mini, context, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}
    )
    assert result == {
        "authenticated": True,
        "customer_id": "ann_1",
        "touches_account": True,
        "target_user_id": "ann_1",
        "owns_target": True,
        "order_status": "pending",
        "status_allowed": True,
        "refund_total": 120.0,
        "refunds_last_30_days": 0,
    }


def test_someone_elses_order(mini, context):
    result = facts(mini, context, "get_order_details", {"order_id": "#W4"})
    assert (result["target_user_id"], result["owns_target"]) == ("bob_2", False)
    assert result["status_allowed"] is True and result["touches_account"] is True


def test_unauthenticated_target_is_not_owned(mini, context):
    result = facts(mini, context, "get_user_details", {"user_id": "ann_1"}, None)
    assert (result["authenticated"], result["owns_target"]) == (False, False)


@pytest.mark.parametrize(
    ("tool", "args", "status", "allowed", "refund"),
    [
        (
            "cancel_pending_order",
            {"order_id": "#W5", "reason": "no longer needed"},
            "processed",
            False,
            10.0,
        ),
        (
            "cancel_pending_order",
            {"order_id": "#W3", "reason": "no longer needed"},
            "pending",
            True,
            12.5,
        ),
        (
            "return_delivered_order_items",
            {"order_id": "#W2", "item_ids": ["201", "101"], "payment_method_id": "paypal_1"},
            "delivered",
            True,
            110.0,
        ),
        (
            "return_delivered_order_items",
            {"order_id": "#W1", "item_ids": ["101"], "payment_method_id": "credit_card_1"},
            "pending",
            False,
            10.0,
        ),
        (
            "modify_pending_order_items",
            {
                "order_id": "#W1",
                "item_ids": ["101", "101"],
                "new_item_ids": ["102", "104"],
                "payment_method_id": "gift_card_2",
            },
            "pending",
            True,
            0.25,
        ),
        (
            "modify_pending_order_items",
            {
                "order_id": "#W1",
                "item_ids": ["201"],
                "new_item_ids": ["202"],
                "payment_method_id": "gift_card_2",
            },
            "pending",
            True,
            0.0,
        ),
        (
            "modify_pending_order_items",
            {
                "order_id": "#W1",
                "item_ids": ["999"],
                "new_item_ids": ["202"],
                "payment_method_id": "gift_card_2",
            },
            "pending",
            True,
            0.0,
        ),
        (
            "exchange_delivered_order_items",
            {
                "order_id": "#W2",
                "item_ids": ["201"],
                "new_item_ids": ["202"],
                "payment_method_id": "gift_card_2",
            },
            "delivered",
            True,
            0.0,
        ),
        (
            "modify_pending_order_payment",
            {"order_id": "#W1", "payment_method_id": "paypal_1"},
            "pending",
            True,
            0.0,
        ),
        (
            "modify_pending_order_address",
            {
                "order_id": "#W2",
                "address1": "a",
                "city": "b",
                "state": "c",
                "country": "d",
                "zip": "e",
            },
            "delivered",
            False,
            0.0,
        ),
    ],
)
def test_order_facts(mini, context, tool, args, status, allowed, refund):
    result = facts(mini, context, tool, args)
    assert set(result) == KEYS
    assert result["order_status"] == status
    assert result["status_allowed"] is allowed
    assert result["refund_total"] == refund
    assert result["owns_target"] is True and result["touches_account"] is True


def test_unknown_ids_give_nulls(mini, context):
    result = facts(
        mini, context, "cancel_pending_order", {"order_id": "#W404", "reason": "no longer needed"}
    )
    assert set(result) == KEYS
    assert result["target_user_id"] is None and result["owns_target"] is None
    assert result["order_status"] is None and result["status_allowed"] is None
    result = facts(
        mini,
        context,
        "modify_user_address",
        {
            "user_id": "ghost",
            "address1": "a",
            "city": "b",
            "state": "c",
            "country": "d",
            "zip": "e",
        },
    )
    assert (result["target_user_id"], result["owns_target"], result["touches_account"]) == (
        None,
        None,
        True,
    )
    result = facts(
        mini,
        context,
        "modify_user_address",
        {
            "user_id": "ann_1",
            "address1": "a",
            "city": "b",
            "state": "c",
            "country": "d",
            "zip": "e",
        },
    )
    assert (result["target_user_id"], result["owns_target"], result["status_allowed"]) == (
        "ann_1",
        True,
        None,
    )


def test_read_tools_without_targets(mini, context):
    for tool, args in [
        ("get_product_details", {"product_id": "100"}),
        ("calculate", {"expression": "1+1"}),
        ("list_all_product_types", {}),
        ("transfer_to_human_agents", {"summary": "x"}),
    ]:
        result = facts(mini, context, tool, args)
        assert result["touches_account"] is False, tool
        assert result["target_user_id"] is None and result["status_allowed"] is None


def test_refunds_last_30_days_counts_only_recent_rows_of_the_customer(mini, context, call):
    now = utcnow()
    for user, days in [("ann_1", 29), ("ann_1", 31), ("bob_2", 0)]:
        at = now - timedelta(days=days)
        mini.add(RetailRefundLog(user_id=user, order_id="#W9", kind="cancel", amount=1, at=at))
    mini.flush()
    args = {"order_id": "#W1", "reason": "no longer needed"}
    assert facts(mini, context, "cancel_pending_order", args)["refunds_last_30_days"] == 1
    call(mini, "cancel_pending_order", args)
    lookup = {"order_id": "#W1"}
    assert facts(mini, context, "get_order_details", lookup)["refunds_last_30_days"] == 2
    assert facts(mini, context, "get_order_details", lookup, None)["refunds_last_30_days"] == 0


def test_facts_errors_reach_the_gate(mini, context):
    spec = DOMAIN.registry.get("modify_pending_order_items")
    assert spec is not None
    # Deliberately malformed input, bypassing validation: the wrong types are the point.
    broken = SwapItems.model_construct(order_id=None, item_ids=None, new_item_ids=3)  # type: ignore[call-arg, arg-type]
    result = DOMAIN.registry.facts_for(context(mini), spec, broken)
    assert set(result) == KEYS and result["target_user_id"] is None
    mini.close()
    mini.get_bind().dispose()
    mini.bind = None
    # A database error is not hidden behind harmless-looking facts: it propagates, and
    # the gate denies the call (tests/gate/test_fail_closed.py).
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        DOMAIN.registry.facts_for(context(mini), spec, broken)


def test_large_refund_fixture_is_over_500(demo, fx, context):
    order = DOMAIN.snapshot(demo)["orders"][fx.large_refund_order_id]
    args = {
        "order_id": fx.large_refund_order_id,
        "item_ids": [item["item_id"] for item in order["items"]],
        "payment_method_id": fx.credit_card_id,
    }
    result = facts(demo, context, "return_delivered_order_items", args, fx.customer_id)
    assert result["refund_total"] == fx.large_refund_total > 500
    assert result["owns_target"] is True and result["status_allowed"] is True


def test_a_fact_no_rule_for_the_call_reads_is_not_computed(mini, context):
    from dataclasses import replace

    from sqlalchemy import event

    from agent.gate.policy_file import load_policy
    from tests.gate.test_policy import RETAIL

    policy = load_policy(RETAIL)
    seen: list[str] = []
    event.listen(mini.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))

    def decided(tool, args):
        spec = DOMAIN.registry.get(tool)
        assert spec is not None
        parsed = DOMAIN.registry.validate(spec, args)
        assert not isinstance(parsed, list), parsed
        ctx = replace(
            context(mini, "ann_1"), wanted=lambda f: policy.reads_fact(tool, spec.effect, f)
        )
        return DOMAIN.registry.facts_for(ctx, spec, parsed)

    read = decided("get_order_details", {"order_id": "#W1"})
    assert read["refunds_last_30_days"] is None  # no rule about reads looks at it
    assert read["owns_target"] is True and set(read) == KEYS
    assert not any("retail_refund_log" in sql for sql in seen)
    cancel = decided("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    assert cancel["refunds_last_30_days"] == 0
    assert any("retail_refund_log" in sql for sql in seen)
