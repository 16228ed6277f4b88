"""The retail store on PostgreSQL (skipped unless SUPPORT_AGENT_TEST_PG_URL is set)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from agent.clock import utcnow
from agent.store.engine import make_engine
from tools.retail import DOMAIN, export_retail, import_retail, seed_demo
from tools.retail.tables import RetailRefundLog


def test_round_trip_tools_and_facts_on_postgres(pg_url, mini_doc, call, context):
    engine = make_engine(pg_url)
    try:
        with Session(engine) as session:
            seed_demo(session, 0)
            session.commit()
            demo = export_retail(session)
            import_retail(session, demo)
            assert export_retail(session) == demo

            import_retail(session, mini_doc)
            session.commit()
            assert export_retail(session) == mini_doc
            old = utcnow() - timedelta(days=40)
            session.add(
                RetailRefundLog(user_id="ann_1", order_id="#W0", kind="cancel", amount=1, at=old)
            )
            call(session, "cancel_pending_order", {"order_id": "#W3", "reason": "no longer needed"})
            session.commit()

        with Session(engine) as session:
            exported = export_retail(session)
            assert exported["orders"]["#W3"]["status"] == "cancelled"
            assert exported["users"]["ann_1"]["payment_methods"]["gift_card_1"]["balance"] == 7.5
            spec = DOMAIN.registry.get("get_order_details")
            assert spec is not None
            args = DOMAIN.registry.validate(spec, {"order_id": "#W3"})
            assert not isinstance(args, list), args
            facts = DOMAIN.registry.facts_for(context(session), spec, args)
            assert facts["refunds_last_30_days"] == 1
    finally:
        engine.dispose()
