"""How much money each retail write moves to the customer (cents), declared on the tools.

The policy's large-refund and refunds-in-30-days rules read these through the facts,
so every tool that can pay a customer declares one of these functions.
"""

from __future__ import annotations

from agent.registry import ToolContext
from tools.retail.inputs import CancelOrder, ReturnItems, SwapItems
from tools.retail.orders import get_order, net_paid_by_method, pick_items, plan_swaps


def cancel_refund(ctx: ToolContext, args: CancelOrder) -> int:
    """A cancellation refunds everything the order's payment methods paid, net."""
    order = get_order(ctx.session, args.order_id)
    return sum(amount for _, amount in net_paid_by_method(order.get_payments()))


def return_refund(ctx: ToolContext, args: ReturnItems) -> int:
    """A return refunds the price of the returned items."""
    order = get_order(ctx.session, args.order_id)
    items = order.get_items()
    return sum(items[p].price for p in pick_items(order, args.item_ids))


def swap_refund(ctx: ToolContext, args: SwapItems) -> int:
    """An item swap (modify or exchange) refunds the price difference when it is cheaper."""
    order = get_order(ctx.session, args.order_id)
    swaps = plan_swaps(ctx.session, order, args.item_ids, args.new_item_ids)
    return max(0, -sum(swap.difference for swap in swaps))
