"""Named migrations bring an older database up to the current shape, once."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, select

from agent.store.engine import make_engine
from agent.store.migrations import MIGRATIONS, AppliedMigration, migrate
from agent.store.tables import Conversation


def old_conversation_table(url: str) -> None:
    raw = create_engine(url)
    with raw.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE conversation (id VARCHAR PRIMARY KEY, created_at DATETIME,"
                " status VARCHAR, meta JSON)"
            )
        )
        conn.execute(text("INSERT INTO conversation VALUES ('old', '2026-01-01', 'done', '{}')"))
    raw.dispose()


def test_an_old_database_gains_the_lease_columns_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old_conversation_table(url)
    engine = make_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("conversation")}
    assert {"lease_owner", "lease_expires"} <= columns
    with Session(engine) as session:
        row = session.get(Conversation, "old")
        assert row is not None and row.status == "done" and row.lease_owner is None
        names = session.exec(select(AppliedMigration.name)).all()
    assert list(names) == [name for name, _ in MIGRATIONS]
    assert migrate(engine) == []  # recorded: never applied twice


def test_a_new_database_records_migrations_without_altering(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with Session(engine) as session:
        assert len(session.exec(select(AppliedMigration)).all()) == len(MIGRATIONS)


def test_migrations_on_postgres(pg_url):
    old_engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with old_engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE conversation (id VARCHAR PRIMARY KEY, "
                "created_at TIMESTAMPTZ, status VARCHAR, meta JSON)"
            )
        )
    old_engine.dispose()
    engine = make_engine(pg_url)
    columns = {c["name"] for c in inspect(engine).get_columns("conversation")}
    assert {"lease_owner", "lease_expires"} <= columns
    engine.dispose()
