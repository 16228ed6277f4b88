"""The facts the policy engine sees for one retail tool call; computed here, decided there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.registry import Tool, ToolContext, ToolError
from tools.retail.orders import net_paid_by_method, pick_items, plan_swaps, recent_refunds
from tools.retail.schema import OrderStatus, to_dollars
from tools.retail.tables import RetailOrder, RetailUser

REQUIRED_STATUS: dict[str, OrderStatus] = {
    "cancel_pending_order": "pending",
    "modify_pending_order_address": "pending",
    "modify_pending_order_payment": "pending",
    "modify_pending_order_items": "pending",
    "exchange_delivered_order_items": "delivered",
    "return_delivered_order_items": "delivered",
}
ACCOUNT_TOOLS = frozenset(
    {"get_user_details", "get_order_details", "modify_user_address", *REQUIRED_STATUS}
)


class RetailFacts(BaseModel):
    """Facts about one call; every key is always present (null where unknown)."""

    authenticated: bool
    customer_id: str | None
    touches_account: bool
    target_user_id: str | None = None
    owns_target: bool | None = None
    order_status: str | None = None
    status_allowed: bool | None = None
    refund_total: float = 0.0
    refunds_last_30_days: int = 0


def _text_arg(args: BaseModel, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if isinstance(value, str) else None


def _list_arg(args: BaseModel, name: str) -> list[str]:
    value = getattr(args, name, None)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _refund_cents(ctx: ToolContext, tool: str, order: RetailOrder, args: BaseModel) -> int:
    try:
        if tool == "cancel_pending_order":
            return sum(amount for _, amount in net_paid_by_method(order.get_payments()))
        if tool == "return_delivered_order_items":
            items = order.get_items()
            return sum(items[p].price for p in pick_items(order, _list_arg(args, "item_ids")))
        if tool == "modify_pending_order_items":
            swaps = plan_swaps(
                ctx.session, order, _list_arg(args, "item_ids"), _list_arg(args, "new_item_ids")
            )
            return max(0, -sum(swap.difference for swap in swaps))
    except ToolError:
        return 0
    return 0


def compute_facts(ctx: ToolContext, tool: Tool, args: BaseModel) -> RetailFacts:
    """The facts for one call (may raise on database errors; retail_facts never does)."""
    facts = RetailFacts(
        authenticated=ctx.customer_id is not None,
        customer_id=ctx.customer_id,
        touches_account=tool.name in ACCOUNT_TOOLS,
    )
    if ctx.customer_id is not None:
        facts.refunds_last_30_days = recent_refunds(ctx.session, ctx.customer_id)
    order_id, user_id = _text_arg(args, "order_id"), _text_arg(args, "user_id")
    if order_id is not None:
        order = ctx.session.get(RetailOrder, order_id)
        if order is not None:
            facts.target_user_id = order.user_id
            facts.order_status = order.status
            wanted = REQUIRED_STATUS.get(tool.name)
            facts.status_allowed = order.status == wanted if wanted else True
            facts.refund_total = to_dollars(_refund_cents(ctx, tool.name, order, args))
    elif user_id is not None and ctx.session.get(RetailUser, user_id) is not None:
        facts.target_user_id = user_id
    if facts.target_user_id is not None:
        facts.owns_target = facts.target_user_id == ctx.customer_id
    return facts


def retail_facts(ctx: ToolContext, tool: Tool, args: BaseModel) -> dict[str, Any]:
    """Facts for the policy engine: always every key, never an exception."""
    try:
        return compute_facts(ctx, tool, args).model_dump()
    except Exception:
        # Fail closed: unknown target, nothing allowed by status.
        return RetailFacts(
            authenticated=ctx.customer_id is not None,
            customer_id=ctx.customer_id,
            touches_account=tool.name in ACCOUNT_TOOLS,
        ).model_dump()
