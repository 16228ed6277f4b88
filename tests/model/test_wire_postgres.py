"""The shared breaker and the customer-limit queries on PostgreSQL."""

from __future__ import annotations

import pytest

from agent.model.breaker import CircuitBreaker, api_available
from agent.model.client import ModelError
from agent.model.spend import SpendGuard
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.transcript.events import ToolResulted, UserMessage
from agent.transcript.log import record


def test_breaker_opened_by_one_worker_stops_another(pg_url: str):
    first = CircuitBreaker("api", threshold=1, cooldown=30, engine=make_engine(pg_url))
    second = CircuitBreaker("api", threshold=1, cooldown=30, engine=make_engine(pg_url))

    first.record("server_error")

    with pytest.raises(ModelError):
        second.check()
    assert not api_available(make_engine(pg_url), "api")


def test_customer_limit_follows_the_customer_on_postgres(pg_url: str):
    from sqlmodel import Session

    engine = make_engine(pg_url)
    with Session(engine) as session, session.begin():
        session.add(Conversation(id="c1"))
        session.add(Conversation(id="c2"))
    for cid in ("c1", "c2"):
        record(engine, cid, UserMessage(text="hi"))
        record(
            engine,
            cid,
            ToolResulted(tool_use_id=f"t-{cid}", name="find", content="ok", customer_id="cust-1"),
        )

    refusal = SpendGuard(engine, messages_per_hour=2).check("c2")

    assert refusal is not None and "customer cust-1 sent 2 messages" in refusal.reason
    assert SpendGuard(engine, messages_per_hour=3).check("c2") is None
