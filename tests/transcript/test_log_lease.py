"""The log and the lease: each append checks it, renewing it once half its time is gone;
a new conversation is made holding it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import utcnow
from agent.store.lease import ConversationBusy, Lease, LeaseLost
from agent.store.tables import Conversation
from agent.transcript.events import UserMessage, load
from agent.transcript.log import ConversationLog

ROWS = Conversation.__table__  # type: ignore[attr-defined]


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def statement(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(engine, "before_cursor_execute", statement)
    return seen


def _opened(engine: Engine) -> ConversationLog:
    """A conversation whose lease this log has just taken, with one message."""
    log = ConversationLog(engine, "c", Lease(engine, ttl=60))
    log.open_turn([UserMessage(text="hello")], meta={})
    log.commit()
    return log


def _expiry(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(ROWS.select().where(ROWS.c.id == "c")).one().lease_expires


def _texts(engine: Engine) -> list[str]:
    with Session(engine) as session:
        found = [e.event for e in load(session, "c")]
    return [e.text for e in found if isinstance(e, UserMessage)]


def _taken_over(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(ROWS).where(ROWS.c.id == "c").values(lease_owner="someone-else"))


def test_a_fresh_lease_is_checked_by_the_insert_alone(toy_store: Engine) -> None:
    log = _opened(toy_store)
    before = _expiry(toy_store)
    seen = _statements(toy_store)
    log.commit([UserMessage(text="more")])
    assert not any(s.startswith("UPDATE conversation") for s in seen), seen
    assert _expiry(toy_store) == before  # not renewed: most of its time is left
    assert _texts(toy_store) == ["hello", "more"]


@pytest.mark.parametrize("due", [False, True])
def test_a_lease_taken_over_refuses_the_append_whether_renewal_is_due_or_not(
    toy_store: Engine, due: bool
) -> None:
    log = _opened(toy_store)
    if due:
        log.lease._renewed["c"] = time.monotonic() - 31
        assert log.lease.renewal_due("c")
    _taken_over(toy_store)
    with pytest.raises(LeaseLost):
        log.commit([UserMessage(text="from a stale worker"), UserMessage(text="and more")])
    assert _texts(toy_store) == ["hello"]


def test_once_half_the_time_is_gone_the_append_renews_the_lease(toy_store: Engine) -> None:
    log = _opened(toy_store)
    with toy_store.begin() as conn:  # as if 40 of its 60 seconds had passed
        soon = utcnow()
        conn.execute(update(ROWS).where(ROWS.c.id == "c").values(lease_expires=soon))
    log.lease._renewed["c"] = time.monotonic() - 40
    seen = _statements(toy_store)
    log.commit([UserMessage(text="more")])
    assert any(s.startswith("UPDATE conversation SET lease_expires") for s in seen), seen
    assert not log.lease.renewal_due("c")
    renewed = _expiry(toy_store)
    assert renewed.replace(tzinfo=None) > soon.replace(tzinfo=None)


def test_an_append_of_no_events_still_checks_the_lease(toy_store: Engine) -> None:
    log = _opened(toy_store)
    _taken_over(toy_store)
    with pytest.raises(LeaseLost):
        log.commit(status="open")


def test_a_new_conversation_is_made_holding_its_lease_in_one_statement(
    toy_store: Engine,
) -> None:
    log = ConversationLog(toy_store, "c", Lease(toy_store, ttl=60))
    seen = _statements(toy_store)
    log.commit(work=lambda _: ([UserMessage(text="hello")], None), take_lease=True, create={})
    assert [s.split(" (")[0] for s in seen] == ["INSERT INTO conversation", "INSERT INTO event"]
    assert log.holds_lease and not log.lease.renewal_due("c")
    with toy_store.connect() as conn:
        assert conn.execute(ROWS.select()).one().lease_owner == log.lease.owner
    assert _texts(toy_store) == ["hello"]


def test_a_conversation_already_there_is_caught_up_and_its_lease_taken(
    toy_store: Engine,
) -> None:
    first = _opened(toy_store)
    first.commit(release=True)
    later = ConversationLog(toy_store, "c", Lease(toy_store, ttl=60))  # another worker
    later.commit(work=lambda _: ([UserMessage(text="again")], None), take_lease=True, create={})
    assert later.state.last_seq == 2 and later.holds_lease
    assert _texts(toy_store) == ["hello", "again"]
    busy = ConversationLog(toy_store, "c", Lease(toy_store, ttl=60))
    with pytest.raises(ConversationBusy):
        busy.commit(work=lambda _: ([UserMessage(text="no")], None), take_lease=True, create={})
    assert _texts(toy_store) == ["hello", "again"]
