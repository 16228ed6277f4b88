"""Retail tools that change data. Each checks everything first, then mutates; never commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.registry import Tool, ToolContext
from tools.retail.checks import (
    check_cancel_pending_order,
    check_exchange_delivered_order_items,
    check_modify_pending_order_address,
    check_modify_pending_order_items,
    check_modify_pending_order_payment,
    check_modify_user_address,
    check_return_delivered_order_items,
    checked_swaps,
)
from tools.retail.inputs import (
    CancelOrder,
    ModifyOrderAddress,
    ModifyOrderPayment,
    ModifyUserAddress,
    NewAddress,
    ReturnItems,
    SwapItems,
)
from tools.retail.orders import (
    get_order,
    get_user,
    log_refund,
    move_gift_card_balance,
    net_paid_by_method,
    pick_items,
)
from tools.retail.refunds import cancel_refund, return_refund, swap_refund
from tools.retail.schema import DOLLARS, Address, OrderItem, Payment
from tools.retail.summaries import (
    summarize_cancel,
    summarize_exchange,
    summarize_modify_items,
    summarize_order_address,
    summarize_order_payment,
    summarize_return,
    summarize_user_address,
)


def _address(args: NewAddress) -> dict[str, Any]:
    fields = args.model_dump(include=set(Address.model_fields))
    return Address.model_validate(fields).model_dump()


def _order_json(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    ctx.session.flush()
    return get_order(ctx.session, order_id).to_shape().to_json()


def cancel_pending_order(ctx: ToolContext, args: CancelOrder) -> dict[str, Any]:
    """Cancel a pending order and refund each payment method its net amount."""
    check_cancel_pending_order(ctx, args)
    order = get_order(ctx.session, args.order_id)
    user = get_user(ctx.session, order.user_id)
    refunds = net_paid_by_method(order.get_payments())
    for method_id, amount in refunds:
        move_gift_card_balance(user, method_id, amount)
    order.set_payments(
        [
            *order.get_payments(),
            *(
                Payment(transaction_type="refund", amount=a, payment_method_id=m)
                for m, a in refunds
            ),
        ]
    )
    order.status = "cancelled"
    order.cancel_reason = args.reason
    log_refund(ctx.session, user.user_id, order.order_id, "cancel", sum(a for _, a in refunds))
    return _order_json(ctx, order.order_id)


def modify_pending_order_address(ctx: ToolContext, args: ModifyOrderAddress) -> dict[str, Any]:
    """Replace the shipping address of a pending order."""
    check_modify_pending_order_address(ctx, args)
    order = get_order(ctx.session, args.order_id)
    order.address = _address(args)
    return _order_json(ctx, order.order_id)


def modify_pending_order_payment(ctx: ToolContext, args: ModifyOrderPayment) -> dict[str, Any]:
    """Pay a pending order with another of the user's methods, refunding the old one."""
    check_modify_pending_order_payment(ctx, args)
    order = get_order(ctx.session, args.order_id)
    payments = order.get_payments()
    old = payments[0]
    user = get_user(ctx.session, order.user_id)
    move_gift_card_balance(user, args.payment_method_id, -old.amount)
    move_gift_card_balance(user, old.payment_method_id, old.amount)
    order.set_payments(
        [
            *payments,
            Payment(
                transaction_type="payment",
                amount=old.amount,
                payment_method_id=args.payment_method_id,
            ),
            Payment(
                transaction_type="refund",
                amount=old.amount,
                payment_method_id=old.payment_method_id,
            ),
        ]
    )
    return _order_json(ctx, order.order_id)


def modify_pending_order_items(ctx: ToolContext, args: SwapItems) -> dict[str, Any]:
    """Swap items of a pending order for other variants of their products; settle the difference."""
    check_modify_pending_order_items(ctx, args)
    swaps = checked_swaps(ctx, args, "pending")
    order = get_order(ctx.session, args.order_id)
    user = get_user(ctx.session, order.user_id)
    difference = sum(swap.difference for swap in swaps)
    items = order.get_items()
    for swap in (s for s in swaps if not s.same):  # a same-variant line keeps its item
        items[swap.position] = OrderItem.model_validate(
            {
                **swap.old.model_dump(),
                "item_id": swap.new.item_id,
                "price": swap.new.price,
                "options": dict(swap.new.options),
            }
        )
    order.set_items(items)
    if difference != 0:
        kind = "payment" if difference > 0 else "refund"
        entry = Payment(
            transaction_type=kind, amount=abs(difference), payment_method_id=args.payment_method_id
        )
        order.set_payments([*order.get_payments(), entry])
        move_gift_card_balance(user, args.payment_method_id, -difference)
    if difference < 0:
        log_refund(ctx.session, user.user_id, order.order_id, "modify", -difference)
    order.status = "pending (item modified)"
    return _order_json(ctx, order.order_id)


def exchange_delivered_order_items(ctx: ToolContext, args: SwapItems) -> dict[str, Any]:
    """Request an exchange of delivered items for other variants of the same products."""
    check_exchange_delivered_order_items(ctx, args)
    difference = sum(swap.difference for swap in checked_swaps(ctx, args, "delivered"))
    order = get_order(ctx.session, args.order_id)
    if difference < 0:  # a cheaper variant: the customer is paid the difference
        log_refund(ctx.session, order.user_id, order.order_id, "exchange", -difference)
    order.status = "exchange requested"
    order.exchange_items = sorted(args.item_ids)
    order.exchange_new_items = sorted(args.new_item_ids)
    order.exchange_payment_method_id = args.payment_method_id
    order.exchange_price_difference = difference
    return _order_json(ctx, order.order_id)


def return_delivered_order_items(ctx: ToolContext, args: ReturnItems) -> dict[str, Any]:
    """Request a return of delivered items, refunded to the original method or a gift card."""
    check_return_delivered_order_items(ctx, args)
    order = get_order(ctx.session, args.order_id)
    positions = pick_items(order, args.item_ids)
    user = get_user(ctx.session, order.user_id)
    items = order.get_items()
    amount = sum(items[p].price for p in positions)
    order.status = "return requested"
    order.return_items = sorted(args.item_ids)
    order.return_payment_method_id = args.payment_method_id
    log_refund(ctx.session, user.user_id, order.order_id, "return", amount)
    return _order_json(ctx, order.order_id)


def modify_user_address(ctx: ToolContext, args: ModifyUserAddress) -> dict[str, Any]:
    """Replace the address on the user's account (existing orders keep theirs)."""
    check_modify_user_address(ctx, args)
    user = get_user(ctx.session, args.user_id)
    user.address = _address(args)
    ctx.session.flush()
    return {"user_id": user.user_id, "address": user.get_address().model_dump(context=DOLLARS)}


PRECHECKS: dict[str, Callable[[ToolContext, Any], None]] = {
    "cancel_pending_order": check_cancel_pending_order,
    "modify_pending_order_address": check_modify_pending_order_address,
    "modify_pending_order_payment": check_modify_pending_order_payment,
    "modify_pending_order_items": check_modify_pending_order_items,
    "exchange_delivered_order_items": check_exchange_delivered_order_items,
    "return_delivered_order_items": check_return_delivered_order_items,
    "modify_user_address": check_modify_user_address,
}
"""Each write tool's own checks, by tool name: a dry run before anyone confirms or approves."""

WRITE_TOOLS: list[Tool] = [
    Tool(
        name="cancel_pending_order",
        description=(
            "Cancel an order whose status is exactly 'pending'. Before calling, confirm the "
            "order id and the reason ('no longer needed' or 'ordered by mistake') with the "
            "customer and get an explicit yes. Each payment method is refunded what it paid; "
            "gift cards at once, other methods in 5-7 business days."
        ),
        input_model=CancelOrder,
        effect="write",
        fn=cancel_pending_order,
        precheck=check_cancel_pending_order,
        touches_account=True,
        needs_order_status="pending",
        refund=cancel_refund,
        summarize=summarize_cancel,
    ),
    Tool(
        name="modify_pending_order_address",
        description=(
            "Change the shipping address of an order whose status is exactly 'pending'. "
            "Confirm the full new address with the customer first."
        ),
        input_model=ModifyOrderAddress,
        effect="write",
        fn=modify_pending_order_address,
        precheck=check_modify_pending_order_address,
        touches_account=True,
        needs_order_status="pending",
        summarize=summarize_order_address,
    ),
    Tool(
        name="modify_pending_order_payment",
        description=(
            "Pay a 'pending' order with another of the customer's payment methods; the old "
            "method is refunded. Only works while the order has exactly one payment; a gift "
            "card must cover the whole total. Confirm the new method with the customer first."
        ),
        input_model=ModifyOrderPayment,
        effect="write",
        fn=modify_pending_order_payment,
        precheck=check_modify_pending_order_payment,
        touches_account=True,
        needs_order_status="pending",
        summarize=summarize_order_payment,
    ),
    Tool(
        name="modify_pending_order_items",
        description=(
            "Swap items of a 'pending' order for other available variants of the same "
            "products (e.g. another size or color). This can be done only once per order: "
            "collect every item the customer wants changed and call it once. The price "
            "difference is charged to, or refunded to, the given payment method. Confirm "
            "the items and the difference with the customer first."
        ),
        input_model=SwapItems,
        effect="write",
        fn=modify_pending_order_items,
        precheck=check_modify_pending_order_items,
        touches_account=True,
        needs_order_status="pending",
        refund=swap_refund,
        summarize=summarize_modify_items,
    ),
    Tool(
        name="exchange_delivered_order_items",
        description=(
            "Request an exchange of items of a 'delivered' order for other available variants "
            "of the same products. Only one return or exchange per order: collect every item "
            "first and call it once. Confirm the items and the price difference, and which "
            "payment method settles it, with the customer first."
        ),
        input_model=SwapItems,
        effect="write",
        fn=exchange_delivered_order_items,
        precheck=check_exchange_delivered_order_items,
        touches_account=True,
        needs_order_status="delivered",
        refund=swap_refund,
        summarize=summarize_exchange,
    ),
    Tool(
        name="return_delivered_order_items",
        description=(
            "Request a return of items of a 'delivered' order. The refund goes to the "
            "order's original payment method or one of the customer's gift cards. Only one "
            "return or exchange per order: collect every item first. Confirm the items and "
            "the refund method with the customer first."
        ),
        input_model=ReturnItems,
        effect="write",
        fn=return_delivered_order_items,
        precheck=check_return_delivered_order_items,
        touches_account=True,
        needs_order_status="delivered",
        refund=return_refund,
        summarize=summarize_return,
    ),
    Tool(
        name="modify_user_address",
        description=(
            "Change the default address on the customer's account (orders keep their own "
            "shipping address). Confirm the full new address with the customer first."
        ),
        input_model=ModifyUserAddress,
        effect="write",
        fn=modify_user_address,
        precheck=check_modify_user_address,
        touches_account=True,
        summarize=summarize_user_address,
    ),
]
