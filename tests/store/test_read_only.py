"""A read-only session ends with COMMIT (PostgreSQL keeps its prepared statements)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.store.engine import make_engine, read_only
from agent.store.tables import Conversation
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
