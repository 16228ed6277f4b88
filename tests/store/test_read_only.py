"""Read-only sessions: end with COMMIT (PostgreSQL keeps its prepared statements), never
write, and on PostgreSQL send no BEGIN/COMMIT at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.store.engine import ReadOnlyWrite, is_reader, make_engine, read_only
from agent.store.lease import Lease
from agent.store.tables import Conversation
from agent.transcript.events import UserMessage
from agent.transcript.log import ConversationLog
from tests.toy import ToyValue


def ends(engine: Engine) -> list[str]:
    """How each transaction on the engine ends, from now on."""
    seen: list[str] = []

    def commit(_conn: Any) -> None:
        seen.append("commit")

    def rollback(_conn: Any) -> None:
        seen.append("rollback")

    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    return seen


def test_a_read_only_session_commits_instead_of_rolling_back(toy_store: Engine) -> None:
    seen = ends(toy_store)
    with read_only(toy_store) as session:
        assert session.get(ToyValue, "a") is not None
    assert seen == ["commit"]


def test_a_read_only_session_never_commits_a_change(toy_store: Engine) -> None:
    seen = ends(toy_store)
    with read_only(toy_store) as session:
        row = session.get(ToyValue, "a")
        assert row is not None
        row.value = 99  # a bug in a reader: thrown away, not written
    assert "commit" not in seen
    with Session(toy_store) as session:
        assert (
            session.execute(select(col(ToyValue.value)).where(col(ToyValue.name) == "a")).scalar()
            == 1
        )


def test_a_failed_read_rolls_back(toy_store: Engine) -> None:
    seen = ends(toy_store)
    with pytest.raises(RuntimeError), read_only(toy_store) as session:
        session.get(ToyValue, "a")
        raise RuntimeError("the decision failed half-way")
    assert seen == ["rollback"]


def test_postgres_keeps_its_prepared_statements_across_read_only_sessions(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        query = select(func.count()).select_from(Conversation)
        for _ in range(8):  # psycopg prepares a statement from its fifth run on a connection
            with read_only(engine) as session:
                session.execute(query)
        with engine.connect() as conn:
            prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
        assert prepared  # a ROLLBACK would have made psycopg DEALLOCATE ALL
    finally:
        engine.dispose()


def test_a_reader_that_changes_a_row_and_reads_on_is_refused(toy_store: Engine) -> None:
    # The query after the change flushed it (autoflush) and the session, clean again,
    # committed it: a bug in a reader wrote to the store. Now the flush itself refuses.
    with pytest.raises(ReadOnlyWrite, match="1 changed"), read_only(toy_store) as session:
        row = session.get(ToyValue, "a")
        assert row is not None
        row.value = 99
        session.execute(select(func.count()).select_from(ToyValue))
    with Session(toy_store) as session:
        assert session.get(ToyValue, "a").value == 1  # type: ignore[union-attr]


def test_a_reader_cannot_add_rows_either(toy_store: Engine) -> None:
    with pytest.raises(ReadOnlyWrite, match="1 new"), read_only(toy_store) as session:
        session.add(ToyValue(name="z", value=26))
        session.flush()
    with Session(toy_store) as session:
        assert session.get(ToyValue, "z") is None


def _reader_statements_in_transaction(engine: Engine) -> list[bool]:
    """For each statement a reader sends from now on: was its driver connection inside a
    transaction of its own making (psycopg not in autocommit)?"""
    seen: list[bool] = []

    def look(conn: Any, *_: Any) -> None:
        if is_reader(conn):
            seen.append(not conn.connection.driver_connection.autocommit)

    event.listen(engine, "before_cursor_execute", look)
    return seen


def test_postgres_reads_send_no_begin_or_commit(pg_url: str) -> None:
    # A read transaction at READ COMMITTED gives each statement its own snapshot anyway:
    # its BEGIN and COMMIT were two round trips for nothing.
    engine = make_engine(pg_url)
    try:
        log = ConversationLog(engine, "c", Lease(engine, ttl=60))
        log.commit(work=lambda _: ([UserMessage(text="hi")], None), take_lease=True, create={})
        seen = _reader_statements_in_transaction(engine)
        with read_only(engine) as session:
            assert session.get(Conversation, "c") is not None
        assert ConversationLog(engine, "c", Lease(engine, ttl=60)).refresh().last_seq == 1
        assert seen == [False, False]  # the session's read, the log's catch-up
    finally:
        engine.dispose()


def test_a_write_after_a_read_on_the_same_connection_is_still_one_transaction(
    toy_store: Engine,
) -> None:
    # The reader's autocommit is its connection's only while the reader holds it.
    with read_only(toy_store) as session:
        session.get(ToyValue, "a")
        used = session.connection().connection.driver_connection
    with pytest.raises(RuntimeError), toy_store.begin() as conn:
        assert conn.connection.driver_connection is used  # the pool gave the same one
        conn.execute(ToyValue.__table__.insert().values(name="w", value=5))  # type: ignore[attr-defined]
        raise RuntimeError("the write fails half-way")
    with Session(toy_store) as session:
        assert session.get(ToyValue, "w") is None
