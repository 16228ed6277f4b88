"""A small shop for service, worker and load tests: orders, refunds, and a rule-driven model."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, select

from agent.domain import Domain
from agent.model.client import AssistantMessage, ModelRequest, ModelResponse, Usage
from agent.registry import Tool, ToolContext, ToolError, ToolRegistry


class ShopOrder(SQLModel, table=True):
    """An order and how much of it was refunded, and how many times."""

    __tablename__ = "shop_order"

    order_id: str = SQLField(primary_key=True)
    customer_id: str
    total: float
    refunded: float = 0.0
    refunds: int = 0


class RefundInput(BaseModel):
    order_id: str = Field(pattern=r"^#\d+$")
    amount: float = Field(gt=0, le=10_000)


def order(session: Session, order_id: str) -> ShopOrder:
    """An order that must exist."""
    found = session.get(ShopOrder, order_id)
    assert found is not None, order_id
    return found


def refund(ctx: ToolContext, args: RefundInput) -> Any:
    order = ctx.session.get(ShopOrder, args.order_id)
    if order is None:
        raise ToolError(f"no order {args.order_id}")
    if order.refunded + args.amount > order.total:
        raise ToolError("refund exceeds what was paid")
    order.refunded += args.amount
    order.refunds += 1
    ctx.session.add(order)
    return {"order_id": order.order_id, "refunded": args.amount}


def facts(ctx: ToolContext, tool: Tool, args: BaseModel) -> dict[str, Any]:
    order_id = getattr(args, "order_id", None)
    order = ctx.session.get(ShopOrder, order_id) if order_id else None
    return {
        "customer_id": ctx.customer_id,
        "owns_order": order is not None and order.customer_id == ctx.customer_id,
        "refund_total": getattr(args, "amount", None),
    }


TOOLS = [
    Tool(
        "refund_order",
        "Refund an amount of an order to the card it was paid with.",
        RefundInput,
        "write",
        refund,
        summarize=lambda a, _s: f"Refund ${a.amount:,.2f} on order {a.order_id} to the card",
    )
]


def seed_demo(session: Session, seed: int) -> None:
    for n in range(seed or 1):
        session.add(ShopOrder(order_id=f"#{1001 + n}", customer_id=f"cus_{n}", total=900.0))


def import_file(session: Session, path: Path) -> None:
    raise NotImplementedError("the shop has no import")


def snapshot(session: Session) -> dict[str, Any]:
    rows = session.exec(select(ShopOrder)).all()
    return {"orders": {r.order_id: {"refunded": r.refunded, "refunds": r.refunds} for r in rows}}


DOMAIN = Domain(
    name="shop",
    registry=ToolRegistry.of(TOOLS, facts=facts),
    system_prompt="You are the shop's support agent.",
    policy_path=Path(__file__).with_name("shop_policy.yaml"),
    seed_demo=seed_demo,
    import_file=import_file,
    snapshot=snapshot,
)

REFUND = re.compile(r"refund \$(\d+(?:\.\d\d)?) (?:on|for) order (#\d+)", re.IGNORECASE)


def _text(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [b for b in blocks if b.get("type") == kind]


@dataclass
class ShopModel:
    """A deterministic model: 'refund $N on order #X' asks for the tool; results get a reply.

    It answers from the request alone, so any process (service, worker) can serve any
    conversation; `delay` stands in for the model's latency.
    """

    delay: float = 0.0
    calls: int = 0

    def respond(self, request: ModelRequest) -> ModelResponse:
        """The next assistant message for this history."""
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        last = request.messages[-1].content if request.messages else []
        results = _text(last, "tool_result")
        said = " ".join(str(b.get("text", "")) for b in _text(last, "text"))
        content: list[dict[str, Any]]
        if results:
            outcome = str(results[0].get("content", ""))
            text = (
                f"Sorry, that did not go through: {outcome}"
                if results[0].get("is_error")
                else f"Your refund is on its way: {outcome}"
            )
            content, stop = [{"type": "text", "text": text}], "end_turn"
        elif match := REFUND.search(said):
            digest = hashlib.sha256(str(len(request.messages)).encode()).hexdigest()[:10]
            content = [
                {"type": "text", "text": "Let me do that."},
                {
                    "type": "tool_use",
                    "id": f"toolu_{digest}",
                    "name": "refund_order",
                    "input": {"order_id": match.group(2), "amount": float(match.group(1))},
                },
            ]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": f"You said: {said}"}], "end_turn"
        message = AssistantMessage(
            id=f"msg_{self.calls}",
            model="shop",
            content=content,
            stop_reason=stop,
            usage=Usage(input_tokens=10, output_tokens=5),
        )
        return ModelResponse(message=message, request_id=f"req_{self.calls}")
