"""The facts the policy engine sees for one retail tool call; computed here, decided there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.registry import Tool, ToolContext, ToolError
from tools.retail.orders import load, recent_refunds
from tools.retail.schema import to_dollars
from tools.retail.tables import RetailOrder, RetailUser


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
    refunds_last_30_days: int | None = 0  # null: no rule for this call reads it


def _text_arg(args: BaseModel, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if isinstance(value, str) else None


def compute_facts(ctx: ToolContext, tool: Tool, args: BaseModel) -> RetailFacts:
    """The facts for one call, from what the tool declares; database errors propagate.

    The gate turns any exception here into a denial (fail closed), so nothing is
    caught: a fact that could not be computed must never look like a harmless one.
    """
    facts = RetailFacts(
        authenticated=ctx.customer_id is not None,
        customer_id=ctx.customer_id,
        touches_account=tool.touches_account,
    )
    if not ctx.wants("refunds_last_30_days"):  # a count per call: only when a rule reads it
        facts.refunds_last_30_days = None
    elif ctx.customer_id is not None:
        facts.refunds_last_30_days = recent_refunds(ctx.session, ctx.customer_id)
    order_id, user_id = _text_arg(args, "order_id"), _text_arg(args, "user_id")
    if order_id is not None:
        order = load(ctx.session, RetailOrder, order_id)
        if order is not None:
            facts.target_user_id = order.user_id
            facts.order_status = order.status
            wanted = tool.needs_order_status
            facts.status_allowed = order.status == wanted if wanted else True
            if tool.refund is not None:
                facts.refund_total = to_dollars(_refund(ctx, tool, args))
    elif user_id is not None and load(ctx.session, RetailUser, user_id) is not None:
        facts.target_user_id = user_id
    if facts.target_user_id is not None:
        facts.owns_target = facts.target_user_id == ctx.customer_id
    return facts


def _refund(ctx: ToolContext, tool: Tool, args: BaseModel) -> int:
    """The money the call would pay out; a call its own checks refuse pays nothing."""
    assert tool.refund is not None
    try:
        return tool.refund(ctx, args)
    except ToolError:
        return 0  # the tool refuses such a call itself (and the dry run says why)


def retail_facts(ctx: ToolContext, tool: Tool, args: BaseModel) -> dict[str, Any]:
    """Facts for the policy engine: every key always present; errors reach the gate."""
    return compute_facts(ctx, tool, args).model_dump()
