"""Import/export of the retail JSON shape, and the seeded demo store."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from agent.store.engine import make_engine
from tools.retail import DOMAIN, demo_fixtures, export_retail, import_retail, seed_demo
from tools.retail.demo import build_demo
from tools.retail.schema import ORDER_STATUSES
from tools.retail.tables import RetailOrder, RetailRefundLog, RetailUser


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_shared_db_round_trips(session, shared_db):
    document = json.loads(shared_db.read_text())
    import_retail(session, shared_db)
    session.commit()
    assert export_retail(session) == document


def test_shared_db_money_is_cents_inside(session, shared_db):
    import_retail(session, shared_db)
    order = session.exec(select(RetailOrder)).first()
    assert order is not None
    assert all(isinstance(i.price, int) for i in order.get_items())
    assert isinstance(order.payment_history[0]["amount"], int)


def test_mini_round_trip_keeps_unknown_keys(session, mini_doc):
    mini_doc["orders"]["#W1"]["gift_wrap"] = True
    mini_doc["users"]["ann_1"]["tier"] = "gold"
    mini_doc["products"]["100"]["variants"]["101"]["weight"] = "2kg"
    mini_doc["orders"]["#W2"]["items"][0]["engraving"] = "A"
    mini_doc["users"]["ann_1"]["payment_methods"]["paypal_1"]["email"] = "ann@pay.example"
    import_retail(session, mini_doc)
    assert export_retail(session) == mini_doc


def test_optional_order_fields_round_trip(session, mini_doc):
    mini_doc["orders"]["#W2"].update(
        status="exchange requested",
        exchange_items=["101"],
        exchange_new_items=["102"],
        exchange_payment_method_id="paypal_1",
        exchange_price_difference=-2.5,
    )
    mini_doc["orders"]["#W6"].update(
        status="return requested", return_items=["202"], return_payment_method_id="gift_card_2"
    )
    mini_doc["orders"]["#W4"].update(status="cancelled", cancel_reason="ordered by mistake")
    import_retail(session, mini_doc)
    assert export_retail(session) == mini_doc
    row = session.get(RetailOrder, "#W2")
    assert row is not None and row.exchange_price_difference == -250


def test_import_replaces_existing_data(session, mini_doc):
    seed_demo(session, 0)
    import_retail(session, mini_doc)
    assert export_retail(session) == mini_doc
    assert session.exec(select(RetailRefundLog)).all() == []


def test_import_rejects_bad_documents(session, mini_doc):
    mini_doc["orders"]["#W1"]["status"] = "lost"
    with pytest.raises(ValidationError):
        import_retail(session, mini_doc)
    mini_doc["orders"]["#W1"]["status"] = "pending"
    mini_doc["orders"]["#W1"]["user_id"] = "ghost"
    with pytest.raises(ValueError, match="unknown users: ghost"):
        import_retail(session, mini_doc)


def test_demo_round_trips(session):
    seed_demo(session, 3)
    exported = export_retail(session)
    other = make_engine(f"sqlite:///{session.get_bind().url.database}.copy")
    with Session(other) as copy:
        import_retail(copy, exported)
        assert export_retail(copy) == exported
    other.dispose()


def test_demo_is_deterministic():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    first, first_logs = build_demo(7, now)
    second, second_logs = build_demo(7, now)
    assert first == second
    assert [r.model_dump() for r in first_logs] == [r.model_dump() for r in second_logs]
    assert build_demo(8, now)[0] != first


def test_demo_covers_every_case(demo):
    exported = export_retail(demo)
    assert len(exported["products"]) == 12
    assert len(exported["users"]) == 40
    assert 300 <= len(exported["orders"]) <= 320
    statuses = Counter(o["status"] for o in exported["orders"].values())
    assert set(statuses) == set(ORDER_STATUSES)
    sources = {
        m["source"] for u in exported["users"].values() for m in u["payment_methods"].values()
    }
    assert sources == {"credit_card", "paypal", "gift_card"}
    for product in exported["products"].values():
        available = [v["available"] for v in product["variants"].values()]
        assert len(available) >= 5 and available.count(True) >= 3
    assert any(
        not v["available"] for p in exported["products"].values() for v in p["variants"].values()
    )
    emails = [u["email"] for u in exported["users"].values()]
    assert len(set(emails)) == len(emails)


def test_demo_fixtures_hold(demo, fx):
    exported = export_retail(demo)
    orders, users = exported["orders"], exported["users"]
    user = users[fx.customer_id]
    assert (user["email"], user["name"]["first_name"], user["name"]["last_name"]) == (
        "mia.hernandez@example.com",
        "Mia",
        "Hernandez",
    )
    assert user["address"]["zip"] == fx.zip == "78701"
    assert orders[fx.pending_order_id]["status"] == "pending"
    assert orders[fx.delivered_order_id]["status"] == "delivered"
    assert len(orders[fx.delivered_order_id]["items"]) >= 2
    assert orders[fx.large_refund_order_id]["status"] == "delivered"
    large = sum(i["price"] for i in orders[fx.large_refund_order_id]["items"])
    assert large == pytest.approx(fx.large_refund_total) and large > 500
    assert orders[fx.processed_order_id]["status"] == "processed"
    assert orders[fx.other_pending_order_id]["status"] == "pending"
    assert orders[fx.other_pending_order_id]["user_id"] == fx.other_customer_id
    assert fx.gift_card_balance == 150.0
    for order_id in user["orders"]:
        assert orders[order_id]["user_id"] == fx.customer_id
    mine = select(RetailRefundLog).where(RetailRefundLog.user_id == fx.customer_id)
    assert demo.exec(mine).all() == []


def test_demo_fixtures_need_a_seeded_store(session):
    with pytest.raises(LookupError, match="run seed_demo first"):
        demo_fixtures(session)


def test_domain_hooks(session, mini_doc, tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(mini_doc))
    DOMAIN.import_file(session, path)
    assert DOMAIN.snapshot(session) == mini_doc
    DOMAIN.seed_demo(session, 0)
    assert session.get(RetailUser, "mia_hernandez_1001") is not None
    assert DOMAIN.name == "retail" and DOMAIN.policy_path.name == "retail.yaml"
