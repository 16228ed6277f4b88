"""Issue 8, holes 1-4 and 8: decisions hold when the write runs; facts errors deny;
payouts by any tool count; the customer is who they say; one worker per conversation."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.config import Settings
from agent.gate.approvals import QueueApprover
from agent.gate.gate import FACTS_UNAVAILABLE, Gate
from agent.loop import Agent, Limits
from agent.model.client import ModelRequest, ModelResponse
from agent.model.scripted import ScriptedModel
from agent.registry import ToolContext
from agent.runtime import build_agent
from agent.store.engine import make_engine
from agent.store.lease import Lease, LeaseLost
from agent.store.tables import Conversation, Execution
from agent.transcript.events import GateDecided, ToolResulted, UserMessage, Verdict, load
from tests.toy import ToyPolicy, ToyValue, registry
from tests.workers import text_step, tool_step
from tools.retail import DOMAIN, demo_fixtures, seed_demo
from tools.retail.orders import recent_refunds
from tools.retail.tables import RetailOrder
from tools.retail.transfer import product_variants

SETTINGS = Settings(model="scripted", max_tokens=256)
MIA = "mia_hernandez_1001"


def _return_agent(engine: Engine, order_id: str, item: str, method: str) -> Agent:
    """An agent whose model proposes one return, then says it is done."""
    steps = [
        tool_step(
            "return_delivered_order_items",
            {"order_id": order_id, "item_ids": [item], "payment_method_id": method},
            "t1",
        ),
        text_step("Done."),
    ]
    return build_agent(
        DOMAIN, SETTINGS, engine, ScriptedModel(steps), approver=QueueApprover(engine)
    )


def _race_round(engine: Engine, tag: str) -> tuple[int, list[Verdict]]:
    """Two conversations of Mia each confirm a return at the same moment.

    Mia already had one refund in the last 30 days, so each return on its own needs
    only her yes; together the second is her third refund and needs a team lead.
    Returns (returns executed, the verdicts the second one ended with).
    """
    with Session(engine) as session:
        order = session.get(RetailOrder, "#W1001001")
        assert order is not None
    first = build_agent(
        DOMAIN,
        SETTINGS,
        engine,
        ScriptedModel(
            [
                tool_step(
                    "cancel_pending_order",
                    {"order_id": "#W1001001", "reason": "no longer needed"},
                    "t0",
                ),
                text_step("ok"),
            ]
        ),
    )
    first.run(f"{tag}-0", "Cancel #W1001001 please", customer_id=MIA)
    assert first.run(f"{tag}-0", "yes").status == "done"
    a = _return_agent(engine, "#W1001002", "6591631324", "paypal_1001002")
    b = _return_agent(engine, "#W1001003", "4648307526", "credit_card_1001001")
    for agent, cid in ((a, f"{tag}-a"), (b, f"{tag}-b")):
        assert agent.run(cid, "Return it please", customer_id=MIA).status == "paused"
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def answer(agent: Agent, cid: str) -> None:
        barrier.wait(timeout=30)
        results[cid] = agent.run(cid, "yes")

    threads = [
        threading.Thread(target=answer, args=(a, f"{tag}-a")),
        threading.Thread(target=answer, args=(b, f"{tag}-b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with Session(engine) as session:
        runs = session.exec(
            select(Execution).where(Execution.tool == "return_delivered_order_items")
        ).all()
        executed = [r for r in runs if not r.is_error and r.conversation_id.startswith(tag)]
        verdicts = [
            e.event.verdict
            for cid in (f"{tag}-a", f"{tag}-b")
            for e in load(session, cid)
            if isinstance(e.event, GateDecided)
        ]
    return len(executed), verdicts


def _assert_rounds(engine_for_round: Any, rounds: int) -> None:
    slipped = 0
    for i in range(rounds):
        engine = engine_for_round(i)
        executed, verdicts = _race_round(engine, f"r{i}")
        engine.dispose()
        assert executed >= 1
        if executed > 1:
            slipped += 1
        else:
            assert "approve" in verdicts  # the loser was sent to a team lead, not refused
    assert slipped == 0, f"{slipped} of {rounds} rounds ran a third refund without a lead"


def test_third_refund_race_sqlite(demo_template: Path, tmp_path: Path) -> None:
    def fresh(i: int) -> Engine:
        path = tmp_path / f"r{i}.db"
        shutil.copy(demo_template, path)
        return make_engine(f"sqlite:///{path}")

    _assert_rounds(fresh, 6)


def test_third_refund_race_postgres(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with Session(engine) as session:
        seed_demo(session, 0)
        session.commit()
    engine.dispose()

    def fresh(i: int) -> Engine:
        # One store; each round uses a new customer state by resetting Mia's orders.
        engine = make_engine(pg_url)
        if i:
            from tools.retail.tables import RetailRefundLog

            with Session(engine) as session:
                for row in session.exec(select(RetailRefundLog)).all():
                    session.delete(row)
                for oid, status in (
                    ("#W1001001", "pending"),
                    ("#W1001002", "delivered"),
                    ("#W1001003", "delivered"),
                ):
                    order = session.get(RetailOrder, oid)
                    assert order is not None
                    order.status = status
                    session.add(order)
                session.commit()
        return engine

    _assert_rounds(fresh, 8)


class BrokenFacts(Exception):
    """A transient database error while computing facts."""


def test_facts_error_denies_and_nothing_runs(engine: Engine) -> None:
    reg = registry()

    def broken(*_: Any) -> dict[str, Any]:
        raise BrokenFacts("connection reset")

    reg.facts = broken
    gate = Gate(engine, reg, ToyPolicy())
    steps = [tool_step("set_value", {"name": "a", "value": 7}, "t1"), text_step("sorry")]
    agent = Agent(engine, ScriptedModel(steps), gate, "sys", Limits("m", 100))
    result = agent.run("c", "set a to 7")
    assert result.status == "done"
    with Session(engine) as session:
        events = [e.event for e in load(session, "c")]
        value = session.get(ToyValue, "a")
        runs = session.exec(select(Execution)).all()
    assert value is not None and value.value == 1 and not runs
    decision = next(e for e in events if isinstance(e, GateDecided))
    assert decision.verdict == "deny" and decision.rules == [FACTS_UNAVAILABLE]
    refused = next(e for e in events if isinstance(e, ToolResulted))
    assert refused.is_error and "could not be checked" in refused.content


def test_exchange_to_cheaper_item_counts_as_a_payout(demo_template: Path, tmp_path: Path) -> None:
    # Issue 8, hole 3: an exchange to a cheaper variant pays the customer; the facts the
    # large-refund and refunds-in-30-days rules read must say so, and the log counts it.
    path = tmp_path / "x.db"
    shutil.copy(demo_template, path)
    engine = make_engine(f"sqlite:///{path}")
    tool = DOMAIN.registry.get("exchange_delivered_order_items")
    assert tool is not None
    with Session(engine) as session:
        fx = demo_fixtures(session)
        order = session.get(RetailOrder, fx.delivered_order_id)
        assert order is not None
        found = None
        for item in order.get_items():
            for variant in product_variants(session, item.product_id):
                if variant.available and variant.price < item.price:
                    found = (item, variant)
        assert found is not None, "the demo has a cheaper variant to exchange to"
        item, variant = found
        args = tool.input_model.model_validate(
            {
                "order_id": order.order_id,
                "item_ids": [item.item_id],
                "new_item_ids": [variant.item_id],
                "payment_method_id": fx.credit_card_id,
            }
        )
        ctx = ToolContext(session=session, conversation_id="c", customer_id=fx.customer_id)
        facts = DOMAIN.registry.facts_for(ctx, tool, args)
        cents = item.price - variant.price
        assert facts["refund_total"] == pytest.approx(cents / 100)
        before = recent_refunds(session, fx.customer_id)
        tool.fn(ctx, args)
        assert recent_refunds(session, fx.customer_id) == before + 1
    engine.dispose()


def test_stale_worker_cannot_append(engine: Engine) -> None:
    # Issue 8, hole 8: a worker whose lease was taken over is refused on its next append.
    agent = Agent(
        engine,
        ScriptedModel([text_step("hi")]),
        Gate(engine, registry(), ToyPolicy()),
        "s",
        Limits("m", 100),
    )
    agent.run("c", "hello")
    log = agent.log("c")
    log.commit(take_lease=True)
    with Session(engine) as session:
        row = session.get(Conversation, "c")
        assert row is not None
        row.lease_owner = "someone-else"
        session.add(row)
        session.commit()
    with pytest.raises(LeaseLost):
        log.commit([UserMessage(text="from a stale worker")])
    with Session(engine) as session:
        texts = [e.event for e in load(session, "c") if isinstance(e.event, UserMessage)]
    assert [u.text for u in texts] == ["hello"]


class SlowModel:
    """A model call that outlives the lease: the first call sleeps past the ttl."""

    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    def respond(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        time.sleep(self.delay)
        from agent.model.client import AssistantMessage

        return ModelResponse(
            message=AssistantMessage(
                content=[{"type": "text", "text": f"reply {self.calls}"}], stop_reason="end_turn"
            )
        )


def test_long_model_call_keeps_the_lease_so_a_second_worker_waits(engine: Engine) -> None:
    def worker_with(model: SlowModel) -> Agent:  # a worker of its own, with a short lease
        gate = Gate(engine, registry(), ToyPolicy())
        return Agent(engine, model, gate, "sys", Limits("m", 100), lease=Lease(engine, 0.4, 5))

    other_model = SlowModel(0)
    one, two = worker_with(SlowModel(1.2)), worker_with(other_model)
    one.run("c", "hello")  # creates the conversation
    worker = threading.Thread(target=one.run, args=("c", "again"))
    worker.start()
    time.sleep(0.6)  # longer than the ttl: without the heartbeat the lease would be free
    two.resume("c")
    worker.join()
    with Session(engine) as session:
        events = [e.event for e in load(session, "c")]
    responses = [e for e in events if e.type == "model_response"]
    assert len(responses) == 2  # the second worker found nothing left to do
    assert other_model.calls == 0


def test_a_failed_facts_query_denies_a_read_and_the_turn_goes_on(toy_store: Engine) -> None:
    """A read is decided inside the commit's transaction; a failing query there denies it.

    On PostgreSQL a failed statement dooms its transaction: the step runs again with the
    facts in a savepoint (store.contain), so the refusal still commits and the model
    hears why.
    """
    engine = toy_store
    reg = registry()

    def broken(ctx: ToolContext, *_: Any) -> dict[str, Any]:
        ctx.session.exec(text("SELECT nothing FROM no_such_table"))  # type: ignore[call-overload]
        return {}

    reg.facts = broken
    steps = [tool_step("lookup", {"name": "a"}, "t1"), text_step("sorry")]
    agent = Agent(engine, ScriptedModel(steps), Gate(engine, reg, ToyPolicy()), "s", Limits("m", 9))
    assert agent.run("c", "what is a?").status == "done"
    with Session(engine) as session:
        events = [e.event for e in load(session, "c")]
    decision = next(e for e in events if isinstance(e, GateDecided))
    refused = next(e for e in events if isinstance(e, ToolResulted))
    assert decision.verdict == "deny" and decision.rules == [FACTS_UNAVAILABLE]
    assert refused.is_error and "could not be checked" in refused.content
