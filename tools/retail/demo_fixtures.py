"""Fixed customers and orders in every demo store, so scenarios can name them.

The ids, names, emails, zips, payment methods and gift card balances below are the same
for every seed; which catalog items the fixture orders hold (and so their totals) depends
on the seed. ``demo_fixtures(session)`` reads the concrete values back.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from sqlmodel import Session

from tools.retail.orders import net_paid_by_method
from tools.retail.schema import (
    Address,
    CreditCard,
    GiftCard,
    OrderStatus,
    PaymentMethod,
    PayPal,
    to_dollars,
)
from tools.retail.tables import RetailOrder, RetailUser
from tools.retail.transfer import product_variants


@dataclass(frozen=True)
class FixtureOrder:
    """An order every demo store has: its id, status, method and product types."""

    order_id: str
    status: OrderStatus
    payment_method_id: str
    products: tuple[str, ...]


@dataclass(frozen=True)
class FixtureCustomer:
    """A customer every demo store has, with their fixed orders."""

    user_id: str
    first_name: str
    last_name: str
    email: str
    address: Address
    methods: dict[str, PaymentMethod]
    orders: tuple[FixtureOrder, ...]


CUSTOMER_ID = "mia_hernandez_1001"
CUSTOMER_EMAIL = "mia.hernandez@example.com"
CUSTOMER_ZIP = "78701"
CUSTOMER_CARD = "credit_card_1001001"
CUSTOMER_PAYPAL = "paypal_1001002"
CUSTOMER_GIFT_CARD = "gift_card_1001003"
PENDING_ORDER = "#W1001001"
DELIVERED_ORDER = "#W1001002"
LARGE_REFUND_ORDER = "#W1001003"
PROCESSED_ORDER = "#W1001004"
OTHER_CUSTOMER_ID = "omar_becker_2002"
OTHER_CUSTOMER_EMAIL = "omar.becker@example.com"
OTHER_CUSTOMER_ZIP = "60614"
OTHER_CUSTOMER_CARD = "credit_card_2002001"
OTHER_PENDING_ORDER = "#W2002001"

FIXTURE_CUSTOMERS: tuple[FixtureCustomer, ...] = (
    FixtureCustomer(
        user_id=CUSTOMER_ID,
        first_name="Mia",
        last_name="Hernandez",
        email=CUSTOMER_EMAIL,
        address=Address(
            address1="412 Maple Avenue",
            address2="Apt 3",
            city="Austin",
            state="TX",
            country="USA",
            zip=CUSTOMER_ZIP,
        ),
        methods={
            CUSTOMER_CARD: CreditCard(
                source="credit_card", id=CUSTOMER_CARD, brand="visa", last_four="4242"
            ),
            CUSTOMER_PAYPAL: PayPal(source="paypal", id=CUSTOMER_PAYPAL),
            CUSTOMER_GIFT_CARD: GiftCard(source="gift_card", id=CUSTOMER_GIFT_CARD, balance=15000),
        },
        orders=(
            FixtureOrder(PENDING_ORDER, "pending", CUSTOMER_CARD, ("T-Shirt", "Water Bottle")),
            FixtureOrder(
                DELIVERED_ORDER,
                "delivered",
                CUSTOMER_PAYPAL,
                ("Backpack", "Headphones", "Yoga Mat"),
            ),
            FixtureOrder(LARGE_REFUND_ORDER, "delivered", CUSTOMER_CARD, ("Laptop", "Desk Lamp")),
            FixtureOrder(PROCESSED_ORDER, "processed", CUSTOMER_GIFT_CARD, ("Coffee Maker",)),
        ),
    ),
    FixtureCustomer(
        user_id=OTHER_CUSTOMER_ID,
        first_name="Omar",
        last_name="Becker",
        email=OTHER_CUSTOMER_EMAIL,
        address=Address(
            address1="77 Fullerton Parkway",
            address2="",
            city="Chicago",
            state="IL",
            country="USA",
            zip=OTHER_CUSTOMER_ZIP,
        ),
        methods={
            OTHER_CUSTOMER_CARD: CreditCard(
                source="credit_card", id=OTHER_CUSTOMER_CARD, brand="mastercard", last_four="5100"
            ),
            "gift_card_2002002": GiftCard(source="gift_card", id="gift_card_2002002", balance=4000),
        },
        orders=(
            FixtureOrder(OTHER_PENDING_ORDER, "pending", OTHER_CUSTOMER_CARD, ("Running Shoes",)),
        ),
    ),
)


class DemoFixtures(BaseModel):
    """The fixture ids of a seeded demo store and the seed-dependent values behind them."""

    customer_id: str
    email: str
    first_name: str
    last_name: str
    zip: str
    credit_card_id: str
    paypal_id: str
    gift_card_id: str
    gift_card_balance: float
    pending_order_id: str
    pending_order_items: list[str]
    pending_swap_from: str
    pending_swap_to: str
    delivered_order_id: str
    delivered_order_items: list[str]
    delivered_swap_from: str
    delivered_swap_to: str
    large_refund_order_id: str
    large_refund_total: float
    processed_order_id: str
    other_customer_id: str
    other_customer_email: str
    other_customer_zip: str
    other_pending_order_id: str


def _order(session: Session, order_id: str) -> RetailOrder:
    order = session.get(RetailOrder, order_id)
    if order is None:
        raise LookupError(f"demo fixture order {order_id} is missing; run seed_demo first")
    return order


def _swap(session: Session, order: RetailOrder) -> tuple[str, str]:
    """The order's first item and the first other available variant of its product."""
    first = order.get_items()[0]
    for variant in product_variants(session, first.product_id):
        if variant.available and variant.item_id != first.item_id:
            return first.item_id, variant.item_id
    raise LookupError(f"no replacement for item {first.item_id} in the demo catalog")


def demo_fixtures(session: Session) -> DemoFixtures:
    """Read the fixture customers and orders back from a seeded store (LookupError if absent)."""
    user = session.get(RetailUser, CUSTOMER_ID)
    if user is None:
        raise LookupError(f"demo fixture user {CUSTOMER_ID} is missing; run seed_demo first")
    gift_card = user.get_methods()[CUSTOMER_GIFT_CARD]
    if not isinstance(gift_card, GiftCard):
        raise LookupError(f"{CUSTOMER_GIFT_CARD} is not a gift card; run seed_demo first")
    large = _order(session, LARGE_REFUND_ORDER)
    pending, delivered = _order(session, PENDING_ORDER), _order(session, DELIVERED_ORDER)
    pending_swap, delivered_swap = _swap(session, pending), _swap(session, delivered)
    return DemoFixtures(
        customer_id=CUSTOMER_ID,
        email=CUSTOMER_EMAIL,
        first_name=user.first_name,
        last_name=user.last_name,
        zip=CUSTOMER_ZIP,
        credit_card_id=CUSTOMER_CARD,
        paypal_id=CUSTOMER_PAYPAL,
        gift_card_id=CUSTOMER_GIFT_CARD,
        gift_card_balance=to_dollars(gift_card.balance),
        pending_order_id=PENDING_ORDER,
        pending_order_items=[i.item_id for i in pending.get_items()],
        pending_swap_from=pending_swap[0],
        pending_swap_to=pending_swap[1],
        delivered_order_id=DELIVERED_ORDER,
        delivered_order_items=[i.item_id for i in delivered.get_items()],
        delivered_swap_from=delivered_swap[0],
        delivered_swap_to=delivered_swap[1],
        large_refund_order_id=LARGE_REFUND_ORDER,
        large_refund_total=to_dollars(sum(a for _, a in net_paid_by_method(large.get_payments()))),
        processed_order_id=_order(session, PROCESSED_ORDER).order_id,
        other_customer_id=OTHER_CUSTOMER_ID,
        other_customer_email=OTHER_CUSTOMER_EMAIL,
        other_customer_zip=OTHER_CUSTOMER_ZIP,
        other_pending_order_id=_order(session, OTHER_PENDING_ORDER).order_id,
    )
