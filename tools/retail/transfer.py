"""Import and export of the retail JSON shape ``{products, users, orders}``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, delete, select

from tools.retail.schema import DOLLARS, Order, Product, RetailDocument, User
from tools.retail.tables import (
    RetailOrder,
    RetailProduct,
    RetailRefundLog,
    RetailUser,
    RetailVariant,
)


def read_document(source: Path | str | Mapping[str, Any]) -> RetailDocument:
    """Parse a retail document from a file path or an already-loaded mapping (dollars)."""
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
    sections = set(RetailDocument.model_fields)
    if not isinstance(raw, Mapping) or not sections & set(raw):
        found = sorted(raw)[:5] if isinstance(raw, Mapping) else type(raw).__name__
        raise ValueError(
            f"not retail data: expected a JSON object with {', '.join(sorted(sections))}; "
            f"found {found}"
        )
    return RetailDocument.model_validate(raw, context=DOLLARS)


def clear_retail(session: Session) -> None:
    """Delete every retail row, refund log included (children before parents)."""
    for table in (RetailRefundLog, RetailOrder, RetailVariant, RetailUser, RetailProduct):
        session.exec(delete(table))
    session.flush()


def _extra(model: BaseModel) -> dict[str, Any]:
    return dict(model.model_extra or {})


def add_product(session: Session, product: Product, seq: int) -> None:
    """Add one product and its variants to the session."""
    session.add(
        RetailProduct(
            product_id=product.product_id,
            seq=seq,
            name=product.name,
            extra=_extra(product),
        )
    )
    for position, variant in enumerate(product.variants.values()):
        session.add(
            RetailVariant(
                item_id=variant.item_id,
                product_id=product.product_id,
                seq=position,
                options=dict(variant.options),
                available=variant.available,
                price=variant.price,
                extra=_extra(variant),
            )
        )


def add_user(session: Session, user: User, seq: int) -> None:
    """Add one account to the session (its order list is derived from the orders)."""
    row = RetailUser(
        user_id=user.user_id,
        seq=seq,
        first_name=user.name.first_name,
        last_name=user.name.last_name,
        email=user.email,
        address=user.address.model_dump(),
        payment_methods={},
        extra=_extra(user),
    )
    row.set_methods(user.payment_methods)
    session.add(row)


def add_order(session: Session, order: Order, seq: int) -> None:
    """Add one order to the session."""
    row = RetailOrder(
        order_id=order.order_id,
        seq=seq,
        user_id=order.user_id,
        address=order.address.model_dump(),
        items=[],
        status=order.status,
        fulfillments=[f.model_dump() for f in order.fulfillments],
        payment_history=[],
        cancel_reason=order.cancel_reason,
        exchange_items=order.exchange_items,
        exchange_new_items=order.exchange_new_items,
        exchange_payment_method_id=order.exchange_payment_method_id,
        exchange_price_difference=order.exchange_price_difference,
        return_items=order.return_items,
        return_payment_method_id=order.return_payment_method_id,
        extra=_extra(order),
    )
    row.set_items(order.items)
    row.set_payments(order.payment_history)
    session.add(row)


def load_document(session: Session, document: RetailDocument) -> None:
    """Replace all retail data with the document's (flushes; the caller commits)."""
    unknown = sorted({o.user_id for o in document.orders.values()} - set(document.users))
    if unknown:
        raise ValueError(f"orders refer to unknown users: {', '.join(unknown[:5])}")
    clear_retail(session)
    for seq, product in enumerate(document.products.values()):
        add_product(session, product, seq)
    for seq, user in enumerate(document.users.values()):
        add_user(session, user, seq)
    session.flush()
    for seq, order in enumerate(document.orders.values()):
        add_order(session, order, seq)
    session.flush()


def import_retail(session: Session, source: Path | str | Mapping[str, Any]) -> None:
    """Replace all retail data with a JSON document (a path or a loaded dict, in dollars)."""
    load_document(session, read_document(source))


def orders_by_user(session: Session) -> dict[str, list[str]]:
    """Every user's order ids, in store order."""
    owned: dict[str, list[str]] = defaultdict(list)
    rows = session.exec(
        select(RetailOrder.user_id, RetailOrder.order_id).order_by(
            col(RetailOrder.seq), col(RetailOrder.order_id)
        )
    )
    for user_id, order_id in rows:
        owned[user_id].append(order_id)
    return owned


def user_order_ids(session: Session, user_id: str) -> list[str]:
    """One user's order ids, in store order."""
    query = (
        select(RetailOrder.order_id)
        .where(RetailOrder.user_id == user_id)
        .order_by(col(RetailOrder.seq), col(RetailOrder.order_id))
    )
    return list(session.exec(query))


def product_variants(session: Session, product_id: str) -> list[RetailVariant]:
    """A product's variants in catalog order."""
    query = (
        select(RetailVariant)
        .where(RetailVariant.product_id == product_id)
        .order_by(col(RetailVariant.seq), col(RetailVariant.item_id))
    )
    return list(session.exec(query))


def export_document(session: Session) -> RetailDocument:
    """All retail data as a RetailDocument."""
    variants: dict[str, list[RetailVariant]] = defaultdict(list)
    for variant in session.exec(
        select(RetailVariant).order_by(col(RetailVariant.seq), col(RetailVariant.item_id))
    ):
        variants[variant.product_id].append(variant)
    products = session.exec(
        select(RetailProduct).order_by(col(RetailProduct.seq), col(RetailProduct.product_id))
    )
    owned = orders_by_user(session)
    users = session.exec(select(RetailUser).order_by(col(RetailUser.seq), col(RetailUser.user_id)))
    orders = session.exec(
        select(RetailOrder).order_by(col(RetailOrder.seq), col(RetailOrder.order_id))
    )
    return RetailDocument(
        products={p.product_id: p.to_shape(variants[p.product_id]) for p in products},
        users={u.user_id: u.to_shape(owned.get(u.user_id, [])) for u in users},
        orders={o.order_id: o.to_shape() for o in orders},
    )


def export_retail(session: Session) -> dict[str, Any]:
    """All retail data in the public JSON shape (dollars), keyed by id."""
    document = export_document(session)
    return {
        "products": {k: p.model_dump(context=DOLLARS) for k, p in document.products.items()},
        "users": {k: u.model_dump(context=DOLLARS) for k, u in document.users.items()},
        "orders": {k: o.to_json() for k, o in document.orders.items()},
    }
