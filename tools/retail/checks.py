"""Each retail write tool's own checks, runnable before anyone is asked to confirm or approve.

`check_<tool>(ctx, args)` raises the ToolError the tool itself would raise (status,
payment method, gift card balance, refund method, same-variant rules) and changes
nothing. The tools call their check first, so a dry run and the real run agree.
"""

from __future__ import annotations

from typing import get_args

from agent.registry import ToolContext, ToolError
from tools.retail.inputs import (
    CancelOrder,
    ModifyOrderAddress,
    ModifyOrderPayment,
    ModifyUserAddress,
    ReturnItems,
    SwapItems,
)
from tools.retail.orders import (
    ItemSwap,
    get_order,
    get_user,
    pick_items,
    plan_swaps,
    require_gift_card_covers,
    require_status,
    user_method,
)
from tools.retail.schema import CancelReason, GiftCard, OrderStatus


def check_cancel_pending_order(ctx: ToolContext, args: CancelOrder) -> None:
    """The order is pending and the reason is one the store accepts."""
    require_status(get_order(ctx.session, args.order_id), "pending")
    if args.reason not in get_args(CancelReason):
        raise ToolError(
            f"reason must be 'no longer needed' or 'ordered by mistake', not {args.reason!r}"
        )


def check_modify_pending_order_address(ctx: ToolContext, args: ModifyOrderAddress) -> None:
    """The order is pending."""
    require_status(get_order(ctx.session, args.order_id), "pending")


def check_modify_pending_order_payment(ctx: ToolContext, args: ModifyOrderPayment) -> None:
    """Pending, exactly one payment, a different method of the user's that covers it."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, "pending")
    payments = order.get_payments()
    if len(payments) != 1 or payments[0].transaction_type != "payment":
        raise ToolError(
            f"order {order.order_id} has {len(payments)} payment entries; its payment method "
            "can only be changed while it has exactly one payment"
        )
    new_method = user_method(get_user(ctx.session, order.user_id), args.payment_method_id)
    if payments[0].payment_method_id == args.payment_method_id:
        raise ToolError(f"order {order.order_id} is already paid with {args.payment_method_id}")
    require_gift_card_covers(new_method, payments[0].amount)


def checked_swaps(ctx: ToolContext, args: SwapItems, status: OrderStatus) -> list[ItemSwap]:
    """The swaps, after every check they need (status, items, variants, method, gift card)."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, status)
    swaps = plan_swaps(
        ctx.session, order, args.item_ids, args.new_item_ids, ships_same=status == "delivered"
    )
    method = user_method(get_user(ctx.session, order.user_id), args.payment_method_id)
    require_gift_card_covers(method, sum(swap.difference for swap in swaps))
    return swaps


def check_modify_pending_order_items(ctx: ToolContext, args: SwapItems) -> None:
    """A valid swap on a pending order that changes at least one line."""
    if all(swap.same for swap in checked_swaps(ctx, args, "pending")):
        raise ToolError(
            f"nothing to modify in order {args.order_id}: every new item is the item the order "
            "already has (list only the lines that change)"
        )


def check_exchange_delivered_order_items(ctx: ToolContext, args: SwapItems) -> None:
    """A valid swap on a delivered order (the same variant is a replacement)."""
    checked_swaps(ctx, args, "delivered")


def check_return_delivered_order_items(ctx: ToolContext, args: ReturnItems) -> None:
    """Delivered, the items are in it, the refund goes to the original method or a gift card."""
    order = get_order(ctx.session, args.order_id)
    require_status(order, "delivered")
    pick_items(order, args.item_ids)
    method = user_method(get_user(ctx.session, order.user_id), args.payment_method_id)
    payments = order.get_payments()
    original = payments[0].payment_method_id if payments else None
    if not isinstance(method, GiftCard) and args.payment_method_id != original:
        raise ToolError(
            f"the refund for order {order.order_id} goes to its original payment method "
            f"({original}) or one of the user's gift cards, not {args.payment_method_id}"
        )


def check_modify_user_address(ctx: ToolContext, args: ModifyUserAddress) -> None:
    """The user exists."""
    get_user(ctx.session, args.user_id)
