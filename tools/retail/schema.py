"""The retail JSON shape as Pydantic models; money is integer cents inside, dollars at the edge.

Validate or dump with ``context=DOLLARS`` to read or write the public JSON shape (prices,
amounts and balances in dollars); without it the same models hold cents, which is how the
JSON columns of the tables store them. Unknown keys are kept (``extra="allow"``) so a
document round-trips.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
)

OrderStatus = Literal[
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "pending (item modified)",
    "exchange requested",
    "return requested",
]
ORDER_STATUSES: tuple[OrderStatus, ...] = (
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "pending (item modified)",
    "exchange requested",
    "return requested",
)
CancelReason = Literal["no longer needed", "ordered by mistake"]
TransactionType = Literal["payment", "refund"]

DOLLARS: dict[str, Any] = {"money": "dollars"}


def to_cents(dollars: float) -> int:
    """Dollars (at most two decimals) to integer cents."""
    return round(dollars * 100)


def to_dollars(cents: int) -> float:
    """Integer cents to dollars, for the JSON boundary."""
    return cents / 100


def format_money(cents: int) -> str:
    """Cents as a customer-readable amount, e.g. ``$1,054.20``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def _in_dollars(context: Any) -> bool:
    return isinstance(context, dict) and context.get("money") == "dollars"


def _money_in(value: Any, info: ValidationInfo) -> Any:
    if _in_dollars(info.context) and isinstance(value, int | float) and not isinstance(value, bool):
        return to_cents(value)
    return value


def _money_out(value: int, info: SerializationInfo) -> int | float:
    return to_dollars(value) if _in_dollars(info.context) else value


Cents = Annotated[int, BeforeValidator(_money_in), PlainSerializer(_money_out)]


class Shape(BaseModel):
    """Base of the JSON-shape models: unknown keys are kept for a faithful round trip."""

    model_config = ConfigDict(extra="allow")


class Address(Shape):
    """A postal address."""

    address1: str
    address2: str
    city: str
    state: str
    country: str
    zip: str


class CreditCard(Shape):
    """A credit card on file."""

    source: Literal["credit_card"]
    id: str
    brand: str
    last_four: str


class PayPal(Shape):
    """A PayPal account on file."""

    source: Literal["paypal"]
    id: str


class GiftCard(Shape):
    """A store gift card with a balance."""

    source: Literal["gift_card"]
    id: str
    balance: Cents


PaymentMethod = Annotated[CreditCard | PayPal | GiftCard, Field(discriminator="source")]


class PersonName(Shape):
    """A customer's name."""

    first_name: str
    last_name: str


class Variant(Shape):
    """One purchasable item of a product (a combination of options)."""

    item_id: str
    options: dict[str, str]
    available: bool
    price: Cents


class Product(Shape):
    """A product type and its variants, keyed by item id."""

    name: str
    product_id: str
    variants: dict[str, Variant]


class OrderItem(Shape):
    """One line of an order (one unit of one variant)."""

    name: str
    product_id: str
    item_id: str
    price: Cents
    options: dict[str, str]


class Fulfillment(Shape):
    """A shipment: its tracking ids and the items in it."""

    tracking_id: list[str]
    item_ids: list[str]


class Payment(Shape):
    """One entry of an order's payment history."""

    transaction_type: TransactionType
    amount: Cents
    payment_method_id: str


class User(Shape):
    """A customer account as it appears in the JSON shape."""

    user_id: str
    name: PersonName
    address: Address
    email: str
    payment_methods: dict[str, PaymentMethod]
    orders: list[str] = Field(default_factory=list)


ORDER_OPTIONAL_FIELDS = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)


class Order(Shape):
    """An order as it appears in the JSON shape (optional fields only when set)."""

    order_id: str
    user_id: str
    address: Address
    items: list[OrderItem]
    status: OrderStatus
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    payment_history: list[Payment] = Field(default_factory=list)
    cancel_reason: str | None = None
    exchange_items: list[str] | None = None
    exchange_new_items: list[str] | None = None
    exchange_payment_method_id: str | None = None
    exchange_price_difference: Cents | None = None
    return_items: list[str] | None = None
    return_payment_method_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape (dollars), leaving out optional fields that are unset."""
        data = self.model_dump(context=DOLLARS)
        for key in ORDER_OPTIONAL_FIELDS:
            if data.get(key) is None:
                data.pop(key, None)
        return data


class RetailDocument(Shape):
    """The whole store: ``{products, users, orders}``, each keyed by id."""

    products: dict[str, Product] = Field(default_factory=dict)
    users: dict[str, User] = Field(default_factory=dict)
    orders: dict[str, Order] = Field(default_factory=dict)
