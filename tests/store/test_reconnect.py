"""A PostgreSQL connection the server dropped is replaced before anyone uses it."""

from __future__ import annotations

import psycopg
from sqlalchemy import func, select
from sqlmodel import Session

from agent.store.engine import make_engine, normalize_url
from agent.store.tables import Conversation


def test_a_pooled_connection_the_server_dropped_is_replaced(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        # The server ends that backend (a restart, an idle timeout, an administrator).
        plain = normalize_url(pg_url).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The next write goes through on a fresh connection, nothing lost or doubled.
        with Session(engine) as session, session.begin():
            session.add(Conversation(id="c1"))
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
            assert conn.execute(select(func.count()).select_from(Conversation)).scalar() == 1
    finally:
        engine.dispose()
