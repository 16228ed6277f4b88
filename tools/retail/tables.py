"""SQLModel tables of the retail store (money in integer cents), with typed accessors.

JSON columns hold the cents form of the models in ``schema``; read them through the
accessors and write them back with the setters, which always assign fresh objects so
SQLAlchemy sees the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import TypeAdapter
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from agent.clock import utcnow
from tools.retail.schema import (
    Address,
    Fulfillment,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    PersonName,
    Product,
    User,
    Variant,
)

RefundKind = Literal["cancel", "return", "exchange", "modify"]

_METHODS = TypeAdapter(dict[str, PaymentMethod])
_ITEMS = TypeAdapter(list[OrderItem])
_PAYMENTS = TypeAdapter(list[Payment])
_FULFILLMENTS = TypeAdapter(list[Fulfillment])


def _json(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(JSON(none_as_null=True), nullable=nullable),
    )


def _extra() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RetailUser(SQLModel, table=True):
    """A customer account; payment methods keyed by id, gift card balances in cents."""

    __tablename__ = "retail_user"

    user_id: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)
    first_name: str
    last_name: str
    email: str = Field(index=True)
    address: dict[str, Any] = _json()
    payment_methods: dict[str, Any] = _json()
    extra: dict[str, Any] = _extra()

    def get_address(self) -> Address:
        """The account's address."""
        return Address.model_validate(self.address)

    def get_methods(self) -> dict[str, PaymentMethod]:
        """The payment methods on file, keyed by id."""
        return _METHODS.validate_python(self.payment_methods)

    def set_methods(self, methods: dict[str, PaymentMethod]) -> None:
        """Replace the payment methods."""
        self.payment_methods = _METHODS.dump_python(methods)

    def to_shape(self, order_ids: list[str]) -> User:
        """The account in the JSON shape, listing the given orders."""
        return User.model_validate(
            {
                **self.extra,
                "user_id": self.user_id,
                "name": PersonName(first_name=self.first_name, last_name=self.last_name),
                "address": self.get_address(),
                "email": self.email,
                "payment_methods": self.get_methods(),
                "orders": order_ids,
            }
        )


class RetailProduct(SQLModel, table=True):
    """A product type; its variants are rows of RetailVariant."""

    __tablename__ = "retail_product"

    product_id: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)
    name: str
    extra: dict[str, Any] = _extra()

    def to_shape(self, variants: list[RetailVariant]) -> Product:
        """The product in the JSON shape with the given variants."""
        return Product.model_validate(
            {
                **self.extra,
                "name": self.name,
                "product_id": self.product_id,
                "variants": {v.item_id: v.to_shape() for v in variants},
            }
        )


class RetailVariant(SQLModel, table=True):
    """One item (variant) of a product, with its price in cents."""

    __tablename__ = "retail_variant"

    item_id: str = Field(primary_key=True)
    product_id: str = Field(index=True, foreign_key="retail_product.product_id")
    seq: int = Field(default=0, index=True)
    options: dict[str, str] = _json()
    available: bool
    price: int
    extra: dict[str, Any] = _extra()

    def to_shape(self) -> Variant:
        """The variant in the JSON shape."""
        return Variant.model_validate(
            {
                **self.extra,
                "item_id": self.item_id,
                "options": dict(self.options),
                "available": self.available,
                "price": self.price,
            }
        )


class RetailOrder(SQLModel, table=True):
    """An order; items, fulfillments and payment history are JSON lists in their order."""

    __tablename__ = "retail_order"

    order_id: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)
    user_id: str = Field(index=True, foreign_key="retail_user.user_id")
    address: dict[str, Any] = _json()
    items: list[dict[str, Any]] = _json()
    status: str
    fulfillments: list[dict[str, Any]] = _json()
    payment_history: list[dict[str, Any]] = _json()
    cancel_reason: str | None = None
    exchange_items: list[str] | None = _json(nullable=True)
    exchange_new_items: list[str] | None = _json(nullable=True)
    exchange_payment_method_id: str | None = None
    exchange_price_difference: int | None = None
    return_items: list[str] | None = _json(nullable=True)
    return_payment_method_id: str | None = None
    extra: dict[str, Any] = _extra()

    def get_status(self) -> OrderStatus:
        """The order's status."""
        return cast(OrderStatus, self.status)

    def get_items(self) -> list[OrderItem]:
        """The order's items, in order."""
        return _ITEMS.validate_python(self.items)

    def set_items(self, items: list[OrderItem]) -> None:
        """Replace the items."""
        self.items = _ITEMS.dump_python(items)

    def get_payments(self) -> list[Payment]:
        """The payment history, oldest first."""
        return _PAYMENTS.validate_python(self.payment_history)

    def set_payments(self, payments: list[Payment]) -> None:
        """Replace the payment history."""
        self.payment_history = _PAYMENTS.dump_python(payments)

    def to_shape(self) -> Order:
        """The order in the JSON shape."""
        return Order.model_validate(
            {
                **self.extra,
                "order_id": self.order_id,
                "user_id": self.user_id,
                "address": self.address,
                "items": self.get_items(),
                "status": self.status,
                "fulfillments": _FULFILLMENTS.validate_python(self.fulfillments),
                "payment_history": self.get_payments(),
                "cancel_reason": self.cancel_reason,
                "exchange_items": self.exchange_items,
                "exchange_new_items": self.exchange_new_items,
                "exchange_payment_method_id": self.exchange_payment_method_id,
                "exchange_price_difference": self.exchange_price_difference,
                "return_items": self.return_items,
                "return_payment_method_id": self.return_payment_method_id,
            }
        )


class RetailRefundLog(SQLModel, table=True):
    """Money paid back to a customer (cancel, return, cheaper exchange or modification)."""

    __tablename__ = "retail_refund_log"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True)
    order_id: str = Field(index=True)
    kind: str
    amount: int
    at: datetime = Field(default_factory=utcnow, index=True)

    def get_kind(self) -> RefundKind:
        """Whether this was a cancellation or a return."""
        return cast(RefundKind, self.kind)
