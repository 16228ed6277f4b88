"""Fixtures for the retail tests: a seeded demo store (copied per test) and a tiny store."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.registry import ToolContext
from agent.store.engine import make_engine
from tools.retail import DOMAIN, demo_fixtures, export_retail, import_retail
from tools.retail.demo_fixtures import DemoFixtures
from tools.retail.tables import RetailRefundLog

SHARED_DB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "retail" / "db.json"


def mini_document() -> dict[str, Any]:
    """A hand-made store small enough to know every number in it."""
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Springfield",
        "state": "IL",
        "country": "USA",
        "zip": "11111",
    }

    def item(product: str, item_id: str, price: float, color: str) -> dict[str, Any]:
        return {
            "name": product,
            "product_id": "100" if product == "Widget" else "200",
            "item_id": item_id,
            "price": price,
            "options": {"color": color},
        }

    def pay(amount: float, method: str, kind: str = "payment") -> dict[str, Any]:
        return {"transaction_type": kind, "amount": amount, "payment_method_id": method}

    def order(order_id: str, user: str, status: str, items: list[Any], payments: list[Any]):
        shipped = status not in ("pending", "cancelled")
        fulfillments = [{"tracking_id": ["900"], "item_ids": [i["item_id"] for i in items]}]
        return {
            "order_id": order_id,
            "user_id": user,
            "address": address,
            "items": items,
            "status": status,
            "fulfillments": fulfillments if shipped else [],
            "payment_history": payments,
        }

    widget = {
        "101": ("red", 10.0, True),
        "102": ("blue", 12.5, True),
        "103": ("green", 8.0, False),
        "104": ("black", 7.25, True),
        "105": ("pink", 10.0, True),
    }
    gadget = {"201": ("silver", 100.0, True), "202": ("gold", 120.0, True)}

    def variants(spec: dict[str, tuple[str, float, bool]]) -> dict[str, Any]:
        return {
            k: {"item_id": k, "options": {"color": c}, "available": a, "price": p}
            for k, (c, p, a) in spec.items()
        }

    red, gadget_silver = item("Widget", "101", 10.0, "red"), item("Gadget", "201", 100.0, "silver")
    return {
        "products": {
            "100": {"name": "Widget", "product_id": "100", "variants": variants(widget)},
            "200": {"name": "Gadget", "product_id": "200", "variants": variants(gadget)},
        },
        "users": {
            "ann_1": {
                "user_id": "ann_1",
                "name": {"first_name": "Ann", "last_name": "Lee"},
                "address": address,
                "email": "ann@example.com",
                "payment_methods": {
                    "credit_card_1": {
                        "source": "credit_card",
                        "id": "credit_card_1",
                        "brand": "visa",
                        "last_four": "1111",
                    },
                    "paypal_1": {"source": "paypal", "id": "paypal_1"},
                    "gift_card_1": {"source": "gift_card", "id": "gift_card_1", "balance": 5.0},
                    "gift_card_2": {"source": "gift_card", "id": "gift_card_2", "balance": 500.0},
                },
                "orders": ["#W1", "#W2", "#W3", "#W5", "#W6", "#W7"],
            },
            "bob_2": {
                "user_id": "bob_2",
                "name": {"first_name": "Bob", "last_name": "Ray"},
                "address": {**address, "zip": "22222"},
                "email": "bob@example.com",
                "payment_methods": {
                    "credit_card_2": {
                        "source": "credit_card",
                        "id": "credit_card_2",
                        "brand": "amex",
                        "last_four": "2222",
                    }
                },
                "orders": ["#W4"],
            },
        },
        "orders": {
            "#W1": order(
                "#W1", "ann_1", "pending", [red, red, gadget_silver], [pay(120.0, "credit_card_1")]
            ),
            "#W2": order(
                "#W2", "ann_1", "delivered", [red, gadget_silver], [pay(110.0, "paypal_1")]
            ),
            "#W3": order(
                "#W3",
                "ann_1",
                "pending",
                [item("Widget", "102", 12.5, "blue")],
                [pay(10.0, "credit_card_1"), pay(2.5, "gift_card_1")],
            ),
            "#W4": order("#W4", "bob_2", "pending", [gadget_silver], [pay(100.0, "credit_card_2")]),
            "#W5": order("#W5", "ann_1", "processed", [red], [pay(10.0, "credit_card_1")]),
            "#W6": order(
                "#W6",
                "ann_1",
                "delivered",
                [item("Gadget", "202", 120.0, "gold")],
                [pay(120.0, "gift_card_2")],
            ),
            "#W7": order(
                "#W7",
                "ann_1",
                "pending",
                [item("Widget", "104", 7.25, "black")],
                [pay(7.25, "gift_card_2")],
            ),
        },
    }


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Session]:
    """A session on a private copy of the seed-0 demo store."""
    path = tmp_path / "t.db"
    shutil.copy(demo_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def fx(demo: Session) -> DemoFixtures:
    """The demo fixtures of the seeded store."""
    return demo_fixtures(demo)


@pytest.fixture
def mini(tmp_path: Path) -> Iterator[Session]:
    """A session on the hand-made mini store."""
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    with Session(engine) as session:
        import_retail(session, mini_document())
        session.commit()
        yield session
    engine.dispose()


@contextmanager
def store_of(request: pytest.FixtureRequest, tmp_path: Path, doc: Any) -> Iterator[Engine]:
    """An engine on `doc` imported, on SQLite, or on PostgreSQL for a "postgres" param
    (skipped with the reason when no PostgreSQL URL is set)."""
    url = f"sqlite:///{tmp_path}/t.db"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    with Session(engine) as session:
        import_retail(session, doc)
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()


def make_ctx(session: Session, customer: str | None = "ann_1", said: str = "") -> ToolContext:
    """A tool context for a customer who wrote `said` in the conversation."""
    return ToolContext(
        session=session, conversation_id="c1", customer_id=customer, customer_said=(said,)
    )


def run_tool(
    session: Session,
    tool: str,
    args: dict[str, Any],
    customer: str | None = "ann_1",
    said: str = "",
) -> Any:
    """Validate the input as the engine would and run the tool."""
    spec = DOMAIN.registry.get(tool)
    assert spec is not None, tool
    parsed = DOMAIN.registry.validate(spec, args)
    assert not isinstance(parsed, list), parsed
    return spec.fn(make_ctx(session, customer, said), parsed)


def take_snapshot(session: Session) -> tuple[dict[str, Any], list[tuple[str, str, str, int]]]:
    """Everything a tool could change: the exported store and the refund log."""
    logs = session.exec(select(RetailRefundLog).order_by(col(RetailRefundLog.id))).all()
    return export_retail(session), [(r.user_id, r.order_id, r.kind, r.amount) for r in logs]


@pytest.fixture
def mini_doc() -> dict[str, Any]:
    """A fresh copy of the mini store's JSON document."""
    return mini_document()


@pytest.fixture
def call() -> Callable[..., Any]:
    """run_tool(session, tool, args, customer="ann_1"): validate and run one tool."""
    return run_tool


@pytest.fixture
def snapshot() -> Callable[[Session], Any]:
    """take_snapshot(session): the exported store plus the refund log."""
    return take_snapshot


@pytest.fixture
def context() -> Callable[..., ToolContext]:
    """make_ctx(session, customer="ann_1"): a ToolContext."""
    return make_ctx


@pytest.fixture
def shared_db() -> Path:
    """The shared tau2-bench retail db.json (skips when this checkout has no ../shared)."""
    if not SHARED_DB.is_file():
        pytest.skip(f"shared retail data not found at {SHARED_DB} (only in the team workspace)")
    return SHARED_DB
