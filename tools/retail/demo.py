"""A deterministic demo store from a seed, with fixed fixture customers scenarios can rely on."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from agent.clock import utcnow
from tools.retail.demo_catalog import (
    CARD_BRANDS,
    CATALOG,
    FIRST_NAMES,
    LAST_NAMES,
    PLACES,
    STREETS,
    ProductSpec,
)
from tools.retail.demo_fixtures import FIXTURE_CUSTOMERS, FixtureCustomer, FixtureOrder
from tools.retail.orders import net_paid_by_method
from tools.retail.schema import (
    ORDER_STATUSES,
    Address,
    CreditCard,
    Fulfillment,
    GiftCard,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    PayPal,
    PersonName,
    Product,
    RetailDocument,
    User,
    Variant,
)
from tools.retail.tables import RetailRefundLog
from tools.retail.transfer import load_document

DEMO_USERS = 40
DEMO_ORDERS = 300
STATUS_WEIGHTS: dict[OrderStatus, int] = {
    "pending": 25,
    "processed": 15,
    "delivered": 30,
    "cancelled": 10,
    "pending (item modified)": 5,
    "exchange requested": 7,
    "return requested": 8,
}
SHIPPED = frozenset({"processed", "delivered", "exchange requested", "return requested"})


@dataclass
class _Store:
    """The demo store while it is being generated."""

    rng: random.Random
    now: datetime
    products: dict[str, Product] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: list[RetailRefundLog] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def digits(self, count: int) -> str:
        """A fresh random number of `count` digits, never handed out before."""
        while True:
            value = str(self.rng.randrange(10 ** (count - 1), 10**count))
            if value not in self.used:
                self.used.add(value)
                return value

    def product(self, name: str) -> Product:
        """The catalog product with this name."""
        return next(p for p in self.products.values() if p.name == name)

    def variant(self, product: Product, *, exclude: str = "") -> Variant:
        """A random available variant of the product, other than `exclude`."""
        choices = [v for v in product.variants.values() if v.available and v.item_id != exclude]
        return self.rng.choice(choices)


def _product(store: _Store, spec: ProductSpec) -> Product:
    combos = list(itertools.product(*(values for _, values in spec.options)))
    chosen = store.rng.sample(combos, k=min(len(combos), store.rng.randint(5, 8)))
    unavailable = set(store.rng.sample(range(len(chosen)), k=store.rng.randint(1, len(chosen) - 3)))
    variants: dict[str, Variant] = {}
    for index, combo in enumerate(chosen):
        item_id = store.digits(10)
        variants[item_id] = Variant(
            item_id=item_id,
            options={axis: value for (axis, _), value in zip(spec.options, combo, strict=True)},
            available=index not in unavailable,
            price=store.rng.randint(spec.low * 100, spec.high * 100),
        )
    return Product(name=spec.name, product_id=spec.product_id, variants=variants)


def _methods(store: _Store) -> dict[str, PaymentMethod]:
    kinds = store.rng.sample(["credit_card", "paypal", "gift_card"], k=store.rng.randint(1, 3))
    methods: dict[str, PaymentMethod] = {}
    for kind in sorted(kinds):
        method_id = f"{kind}_{store.digits(7)}"
        if kind == "credit_card":
            brand = store.rng.choice(CARD_BRANDS)
            methods[method_id] = CreditCard(
                source="credit_card", id=method_id, brand=brand, last_four=store.digits(4)
            )
        elif kind == "paypal":
            methods[method_id] = PayPal(source="paypal", id=method_id)
        else:
            balance = store.rng.randint(0, 300) * 100 + store.rng.randint(0, 99)
            methods[method_id] = GiftCard(source="gift_card", id=method_id, balance=balance)
    return methods


def _random_user(store: _Store) -> User:
    reserved = {(c.first_name, c.last_name) for c in FIXTURE_CUSTOMERS}
    while True:
        first, last = store.rng.choice(FIRST_NAMES), store.rng.choice(LAST_NAMES)
        if (first, last) not in reserved:
            break
    city, state, zip_prefix = store.rng.choice(PLACES)
    user_id = f"{first.lower()}_{last.lower()}_{store.digits(4)}"
    address = Address(
        address1=f"{store.rng.randint(1, 999)} {store.rng.choice(STREETS)}",
        address2=store.rng.choice(["", f"Apt {store.rng.randint(1, 40)}", ""]),
        city=city,
        state=state,
        country="USA",
        zip=f"{zip_prefix}{store.rng.randint(0, 99):02d}",
    )
    return User(
        user_id=user_id,
        name=PersonName(first_name=first, last_name=last),
        address=address,
        email=f"{first.lower()}.{last.lower()}{store.digits(4)}@example.com",
        payment_methods=_methods(store),
    )


def _line(product: Product, variant: Variant) -> OrderItem:
    return OrderItem(
        name=product.name,
        product_id=product.product_id,
        item_id=variant.item_id,
        price=variant.price,
        options=dict(variant.options),
    )


def _swap_one(store: _Store, order: Order) -> tuple[OrderItem, OrderItem]:
    """Pick an item of the order and a replacement of the same product (changes nothing)."""
    old = store.rng.choice(order.items)
    product = store.products[old.product_id]
    return old, _line(product, store.variant(product, exclude=old.item_id))


def _apply_status(store: _Store, order: Order, status: OrderStatus) -> None:
    paid_with = order.payment_history[0].payment_method_id
    order.status = status
    if status in SHIPPED:
        ids = [item.item_id for item in order.items]
        order.fulfillments = [Fulfillment(tracking_id=[store.digits(12)], item_ids=ids)]
    at = store.now - timedelta(minutes=store.rng.randint(0, 90 * 24 * 60))
    if status == "cancelled":
        refunds = net_paid_by_method(order.payment_history)
        order.payment_history += [
            Payment(transaction_type="refund", amount=a, payment_method_id=m) for m, a in refunds
        ]
        order.cancel_reason = store.rng.choice(["no longer needed", "ordered by mistake"])
        amount = sum(a for _, a in refunds)
        store.refunds.append(
            RetailRefundLog(
                user_id=order.user_id, order_id=order.order_id, kind="cancel", amount=amount, at=at
            )
        )
    elif status == "pending (item modified)":
        old, new = _swap_one(store, order)
        order.items[order.items.index(old)] = new
        difference = new.price - old.price
        if difference:
            kind = "payment" if difference > 0 else "refund"
            order.payment_history.append(
                Payment(transaction_type=kind, amount=abs(difference), payment_method_id=paid_with)
            )
    elif status == "exchange requested":
        old, new = _swap_one(store, order)
        order.exchange_items = [old.item_id]
        order.exchange_new_items = [new.item_id]
        order.exchange_payment_method_id = paid_with
        order.exchange_price_difference = new.price - old.price
    elif status == "return requested":
        returned = store.rng.sample(order.items, k=store.rng.randint(1, len(order.items)))
        order.return_items = sorted(item.item_id for item in returned)
        order.return_payment_method_id = paid_with
        amount = sum(item.price for item in returned)
        store.refunds.append(
            RetailRefundLog(
                user_id=order.user_id, order_id=order.order_id, kind="return", amount=amount, at=at
            )
        )


def _new_order(store: _Store, user: User, items: list[OrderItem], method_id: str) -> Order:
    order_id = f"#W{store.digits(7)}"
    return _place(store, order_id, user, items, method_id)


def _place(store: _Store, order_id: str, user: User, items: list[OrderItem], method: str) -> Order:
    order = Order(
        order_id=order_id,
        user_id=user.user_id,
        address=user.address.model_copy(),
        items=items,
        status="pending",
        payment_history=[
            Payment(
                transaction_type="payment",
                amount=sum(i.price for i in items),
                payment_method_id=method,
            )
        ],
    )
    store.orders[order_id] = order
    user.orders.append(order_id)
    return order


def _random_order(store: _Store, status: OrderStatus) -> None:
    fixtures = {c.user_id for c in FIXTURE_CUSTOMERS}
    user = store.rng.choice([u for u in store.users.values() if u.user_id not in fixtures])
    products = list(store.products.values())
    items = []
    for _ in range(store.rng.randint(1, 4)):
        product = store.rng.choice(products)
        items.append(_line(product, store.rng.choice(list(product.variants.values()))))
    method = store.rng.choice(list(user.payment_methods))
    _apply_status(store, _new_order(store, user, items, method), status)


def _fixture_user(store: _Store, customer: FixtureCustomer) -> None:
    store.used.update({customer.user_id, *customer.methods, *(o.order_id for o in customer.orders)})
    user = User(
        user_id=customer.user_id,
        name=PersonName(first_name=customer.first_name, last_name=customer.last_name),
        address=customer.address,
        email=customer.email,
        payment_methods=dict(customer.methods),
    )
    store.users[user.user_id] = user
    for spec in customer.orders:
        _fixture_order(store, user, spec)


def _fixture_order(store: _Store, user: User, spec: FixtureOrder) -> None:
    items = [
        _line(store.product(name), store.variant(store.product(name))) for name in spec.products
    ]
    order = _place(store, spec.order_id, user, items, spec.payment_method_id)
    _apply_status(store, order, spec.status)


def build_demo(
    seed: int, now: datetime | None = None
) -> tuple[RetailDocument, list[RetailRefundLog]]:
    """The demo store for a seed, plus refund-log rows dated relative to `now` (aware UTC)."""
    store = _Store(rng=random.Random(seed), now=now or utcnow().replace(microsecond=0))
    for spec in CATALOG:
        store.products[spec.product_id] = _product(store, spec)
    for customer in FIXTURE_CUSTOMERS:
        _fixture_user(store, customer)
    while len(store.users) < DEMO_USERS:
        user = _random_user(store)
        store.users[user.user_id] = user
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    for index in range(DEMO_ORDERS):
        cycle = ORDER_STATUSES[index] if index < len(ORDER_STATUSES) else None
        _random_order(store, cycle or store.rng.choices(statuses, weights)[0])
    document = RetailDocument(products=store.products, users=store.users, orders=store.orders)
    return document, store.refunds


def seed_demo(session: Session, seed: int, *, now: datetime | None = None) -> None:
    """Replace all retail data with the demo store for `seed` (flushes; the caller commits)."""
    document, refunds = build_demo(seed, now)
    load_document(session, document)
    session.add_all(refunds)
    session.flush()
