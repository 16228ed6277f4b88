"""Retail tools that change data. Each checks everything first, then mutates; never commits."""

from __future__ import annotations

from typing import Any, get_args

from agent.registry import Tool, ToolContext, ToolError
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
    ItemSwap,
    get_order,
    get_user,
    log_refund,
    move_gift_card_balance,
    net_paid_by_method,
    pick_items,
    plan_swaps,
    require_gift_card_covers,
    require_status,
    user_method,
)
from tools.retail.refunds import cancel_refund, return_refund, swap_refund
from tools.retail.schema import (
    DOLLARS,
    Address,
    CancelReason,
    GiftCard,
    OrderItem,
    OrderStatus,
    Payment,
)
from tools.retail.summaries import (
    summarize_cancel,
    summarize_exchange,
    summarize_modify_items,
    summarize_order_address,
    summarize_order_payment,
    summarize_return,
    summarize_user_address,
)
from tools.retail.tables import RetailOrder, RetailUser


def _address(args: NewAddress) -> dict[str, Any]:
    fields = args.model_dump(include=set(Address.model_fields))
    return Address.model_validate(fields).model_dump()


def _order_json(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    ctx.session.flush()
    return get_order(ctx.session, order_id).to_shape().to_json()


def cancel_pending_order(ctx: ToolContext, args: CancelOrder) -> dict[str, Any]:
    """Cancel a pending order and refund each payment method its net amount."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, "pending")
    if args.reason not in get_args(CancelReason):
        raise ToolError(
            f"reason must be 'no longer needed' or 'ordered by mistake', not {args.reason!r}"
        )
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
    order = get_order(ctx.session, args.order_id)
    require_status(order, "pending")
    order.address = _address(args)
    return _order_json(ctx, order.order_id)


def modify_pending_order_payment(ctx: ToolContext, args: ModifyOrderPayment) -> dict[str, Any]:
    """Pay a pending order with another of the user's methods, refunding the old one."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, "pending")
    payments = order.get_payments()
    if len(payments) != 1 or payments[0].transaction_type != "payment":
        raise ToolError(
            f"order {order.order_id} has {len(payments)} payment entries; its payment method "
            "can only be changed while it has exactly one payment"
        )
    old = payments[0]
    user = get_user(ctx.session, order.user_id)
    new_method = user_method(user, args.payment_method_id)
    if old.payment_method_id == args.payment_method_id:
        raise ToolError(f"order {order.order_id} is already paid with {old.payment_method_id}")
    require_gift_card_covers(new_method, old.amount)
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


def _checked_swaps(
    ctx: ToolContext, args: SwapItems, status: OrderStatus
) -> tuple[RetailOrder, RetailUser, list[ItemSwap], int]:
    """Every check an item swap needs (status, items, variants, method, gift card cover)."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, status)
    swaps = plan_swaps(ctx.session, order, args.item_ids, args.new_item_ids)
    user = get_user(ctx.session, order.user_id)
    method = user_method(user, args.payment_method_id)
    difference = sum(swap.difference for swap in swaps)
    require_gift_card_covers(method, difference)
    return order, user, swaps, difference


def modify_pending_order_items(ctx: ToolContext, args: SwapItems) -> dict[str, Any]:
    """Swap items of a pending order for other variants of their products; settle the difference."""
    order, user, swaps, difference = _checked_swaps(ctx, args, "pending")
    items = order.get_items()
    for swap in swaps:
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
    order, user, _swaps, difference = _checked_swaps(ctx, args, "delivered")
    if difference < 0:  # a cheaper variant: the customer is paid the difference
        log_refund(ctx.session, user.user_id, order.order_id, "exchange", -difference)
    order.status = "exchange requested"
    order.exchange_items = sorted(args.item_ids)
    order.exchange_new_items = sorted(args.new_item_ids)
    order.exchange_payment_method_id = args.payment_method_id
    order.exchange_price_difference = difference
    return _order_json(ctx, order.order_id)


def return_delivered_order_items(ctx: ToolContext, args: ReturnItems) -> dict[str, Any]:
    """Request a return of delivered items, refunded to the original method or a gift card."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, "delivered")
    positions = pick_items(order, args.item_ids)
    user = get_user(ctx.session, order.user_id)
    method = user_method(user, args.payment_method_id)
    payments = order.get_payments()
    original = payments[0].payment_method_id if payments else None
    if not isinstance(method, GiftCard) and args.payment_method_id != original:
        raise ToolError(
            f"the refund for order {order.order_id} goes to its original payment method "
            f"({original}) or one of the user's gift cards, not {args.payment_method_id}"
        )
    items = order.get_items()
    amount = sum(items[p].price for p in positions)
    order.status = "return requested"
    order.return_items = sorted(args.item_ids)
    order.return_payment_method_id = args.payment_method_id
    log_refund(ctx.session, user.user_id, order.order_id, "return", amount)
    return _order_json(ctx, order.order_id)


def modify_user_address(ctx: ToolContext, args: ModifyUserAddress) -> dict[str, Any]:
    """Replace the address on the user's account (existing orders keep theirs)."""
    user = get_user(ctx.session, args.user_id)
    user.address = _address(args)
    ctx.session.flush()
    return {"user_id": user.user_id, "address": user.get_address().model_dump(context=DOLLARS)}


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
        touches_account=True,
        summarize=summarize_user_address,
    ),
]
