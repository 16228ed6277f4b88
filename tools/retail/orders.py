"""Lookups and checks shared by the retail tools and facts; every refusal is a ToolError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, func
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import manager_of_class
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, SQLModel, col, select

from agent.clock import utcnow
from agent.registry import ToolError
from agent.store.direct import Direct
from tools.retail.schema import (
    GiftCard,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    format_money,
)
from tools.retail.tables import (
    RefundKind,
    RetailOrder,
    RetailProduct,
    RetailRefundLog,
    RetailUser,
    RetailVariant,
)

REFUND_WINDOW = timedelta(days=30)
_HELD = "retail_rows_held"

Row = TypeVar("Row", RetailOrder, RetailUser, RetailVariant, RetailProduct)


def load(session: Session, model: type[Row], key: str) -> Row | None:
    """The row by primary key, held for the session's life so a second lookup is free.

    SQLAlchemy's identity map holds rows weakly: facts, dry run, summary and tool each
    looking up the same order in one transaction would each query it again. A row the
    session does not know yet is read with one plain statement (store.direct) and handed
    to the session as if it had loaded it, so a tool changes it as usual and the flush
    writes what changed; `session.get` costs about five times as much.
    """
    held = session.info.setdefault(_HELD, {})
    found = held.get((model, key))
    if found is not None:
        return cast(Row, found)
    known = session.identity_map.get(identity_key(model, key))
    if known is None:
        values = _BY_KEY[model].run(session.connection(), {"key": key}).first()
        if values is None:
            return None
        known = manager_of_class(model).new_instance()  # as the ORM makes a loaded row
        known.__dict__.update(zip(_COLUMNS[model], values, strict=True))
        make_transient_to_detached(known)  # its values are now what the store holds
        session.add(known)
    held[(model, key)] = known
    return known


def _by_key(model: type[SQLModel]) -> Direct:
    table: Any = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    return Direct.of(sa_select(table).where(key == bindparam("key")))


_MODELS: tuple[type[SQLModel], ...] = (RetailOrder, RetailUser, RetailVariant, RetailProduct)
_BY_KEY = {model: _by_key(model) for model in _MODELS}  # built once: facts read rows often
_COLUMNS = {model: [c.key for c in model.__table__.columns] for model in _MODELS}  # type: ignore[attr-defined]


def get_user(session: Session, user_id: str) -> RetailUser:
    """The user, or a ToolError naming the missing id."""
    user = load(session, RetailUser, user_id)
    if user is None:
        raise ToolError(f"user {user_id!r} not found")
    return user


def get_order(session: Session, order_id: str) -> RetailOrder:
    """The order, or a ToolError naming the missing id."""
    order = load(session, RetailOrder, order_id)
    if order is None:
        hint = "" if order_id.startswith("#") else " (order ids start with '#')"
        raise ToolError(f"order {order_id!r} not found{hint}")
    return order


def get_variant(session: Session, item_id: str) -> RetailVariant:
    """The item (variant), or a ToolError naming the missing id."""
    variant = load(session, RetailVariant, item_id)
    if variant is None:
        raise ToolError(f"item {item_id!r} not found")
    return variant


def product_name(session: Session, product_id: str) -> str:
    """The product's name, or its id when unknown."""
    product = load(session, RetailProduct, product_id)
    return product.name if product is not None else product_id


def require_status(order: RetailOrder, wanted: OrderStatus) -> None:
    """Refuse unless the order has exactly the wanted status."""
    if order.status != wanted:
        raise ToolError(f"order {order.order_id} is {order.status}, not {wanted}")


def user_method(user: RetailUser, payment_method_id: str) -> PaymentMethod:
    """One of the user's payment methods, or a ToolError."""
    method = user.get_methods().get(payment_method_id)
    if method is None:
        owned = ", ".join(user.get_methods()) or "none"
        raise ToolError(
            f"payment method {payment_method_id!r} is not one of user {user.user_id}'s "
            f"payment methods ({owned})"
        )
    return method


def require_gift_card_covers(method: PaymentMethod, amount: int) -> None:
    """Refuse when a gift card's balance is below a positive amount to pay."""
    if isinstance(method, GiftCard) and amount > 0 and method.balance < amount:
        raise ToolError(
            f"gift card {method.id} has {format_money(method.balance)}, "
            f"less than the {format_money(amount)} to pay"
        )


def move_gift_card_balance(user: RetailUser, payment_method_id: str, delta: int) -> None:
    """Add delta cents to the user's gift card with this id; other methods are untouched."""
    methods = user.get_methods()
    method = methods.get(payment_method_id)
    if not isinstance(method, GiftCard) or delta == 0:
        return
    methods[payment_method_id] = method.model_copy(update={"balance": method.balance + delta})
    user.set_methods(methods)


def net_paid_by_method(payments: list[Payment]) -> list[tuple[str, int]]:
    """Net amount (payments minus refunds) per method, in order of first payment; only > 0."""
    net: dict[str, int] = {}
    for payment in payments:
        sign = 1 if payment.transaction_type == "payment" else -1
        net[payment.payment_method_id] = (
            net.get(payment.payment_method_id, 0) + sign * payment.amount
        )
    return [(method_id, amount) for method_id, amount in net.items() if amount > 0]


def pick_items(order: RetailOrder, item_ids: list[str]) -> list[int]:
    """Positions in the order of the listed items; a repeated id takes one more occurrence."""
    items = order.get_items()
    taken: set[int] = set()
    positions = []
    for item_id in item_ids:
        position = next(
            (i for i, item in enumerate(items) if item.item_id == item_id and i not in taken),
            None,
        )
        if position is None:
            have = sum(1 for item in items if item.item_id == item_id)
            if have == 0:
                raise ToolError(f"item {item_id} is not in order {order.order_id}")
            wanted = item_ids.count(item_id)
            raise ToolError(
                f"order {order.order_id} has {have} of item {item_id}, but {wanted} were listed"
            )
        taken.add(position)
        positions.append(position)
    return positions


@dataclass(frozen=True)
class ItemSwap:
    """One order line to be replaced by another variant of the same product."""

    position: int
    old: OrderItem
    new: RetailVariant

    @property
    def same(self) -> bool:
        """The new item is the old variant: a replacement (exchange) or an unchanged line."""
        return self.new.item_id == self.old.item_id

    @property
    def difference(self) -> int:
        """New price minus old price, in cents; none for the same variant."""
        return 0 if self.same else self.new.price - self.old.price


def _check_replacement(
    session: Session, old: OrderItem, new_item_id: str, *, ships_same: bool
) -> RetailVariant:
    variant = get_variant(session, new_item_id)
    if new_item_id == old.item_id and not ships_same:
        return variant  # the line keeps its item: nothing ships, nothing to check
    if variant.product_id != old.product_id:
        raise ToolError(
            f"item {new_item_id} is a variant of {product_name(session, variant.product_id)} "
            f"(product {variant.product_id}), not of {old.name} (product {old.product_id})"
        )
    if not variant.available:
        raise ToolError(f"item {new_item_id} ({old.name}) is not available")
    return variant


def plan_swaps(
    session: Session,
    order: RetailOrder,
    item_ids: list[str],
    new_item_ids: list[str],
    *,
    ships_same: bool = False,
) -> list[ItemSwap]:
    """Check an item swap completely and return what would change; changes nothing.

    A new item equal to the old one is accepted: with `ships_same` (an exchange) it is a
    replacement that must be in stock; without (a modification) that line stays as it is.
    """
    if not item_ids:
        raise ToolError("item_ids is empty; list at least one item to replace")
    if len(item_ids) != len(new_item_ids):
        raise ToolError(
            f"item_ids has {len(item_ids)} ids but new_item_ids has {len(new_item_ids)}; "
            "they pair up position by position"
        )
    items = order.get_items()
    positions = pick_items(order, item_ids)
    return [
        ItemSwap(
            position,
            items[position],
            _check_replacement(session, items[position], new_id, ships_same=ships_same),
        )
        for position, new_id in zip(positions, new_item_ids, strict=True)
    ]


def log_refund(
    session: Session, user_id: str, order_id: str, kind: RefundKind, amount: int
) -> None:
    """Record one payout to the customer (cancel, return, cheaper swap) in the refund log.

    Written at once (the caller's savepoint rolls it back with the rest of a refusal), so
    the next count of recent refunds sees it without flushing the session.
    """
    row = {"user_id": user_id, "order_id": order_id, "kind": kind, "amount": amount}
    _LOG_REFUND.run(session.connection(), row)


_REFUNDS = RetailRefundLog.__table__  # type: ignore[attr-defined]
_LOG_REFUND = Direct.of(  # `at` from the column's default (now)
    sa_insert(_REFUNDS).inline(), columns=("user_id", "order_id", "kind", "amount")
)


def refunds_since(session: Session, user_id: str, since: datetime) -> int:
    """How many payouts (cancel, return, cheaper swap) the user had since an aware time."""
    if session.new or session.dirty:  # payouts added through the session count too
        session.flush()
    found = _REFUNDS_SINCE.run(session.connection(), {"user": user_id, "since": since})
    return int(found.scalar())


_REFUNDS_SINCE = Direct.of(  # built once: the policy's facts count refunds on every call
    select(func.count())
    .select_from(RetailRefundLog)
    .where(
        col(RetailRefundLog.user_id) == bindparam("user"),
        col(RetailRefundLog.at) >= bindparam("since"),
    )
)


def recent_refunds(session: Session, user_id: str) -> int:
    """How many payouts (cancel, return, cheaper swap) the user had in the last 30 days."""
    return refunds_since(session, user_id, utcnow() - REFUND_WINDOW)
