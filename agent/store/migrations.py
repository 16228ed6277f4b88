"""Named schema migrations, only ever appended, recorded in the database they changed.

New tables come from `create_all`; a migration is needed when an existing table
changes shape. Each migration is idempotent (it checks before it alters), because a
database created by a newer `create_all` already has the new shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from agent.clock import utcnow


class AppliedMigration(SQLModel, table=True):
    """One migration that has run against this database."""

    __tablename__ = "schema_migration"

    name: str = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow)


def add_column(conn: Connection, table: str, column: str, ddl_type: str) -> None:
    """ALTER TABLE … ADD COLUMN unless the table is missing or already has the column."""
    inspector = inspect(conn)
    if not inspector.has_table(table):
        return
    if column in {c["name"] for c in inspector.get_columns(table)}:
        return
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}"))


def _conversation_lease(conn: Connection) -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    add_column(conn, "conversation", "lease_owner", "VARCHAR")
    add_column(conn, "conversation", "lease_expires", timestamp)


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("0001_conversation_lease", _conversation_lease),
]


def migrate(engine: Engine) -> list[str]:
    """Apply, in order, every migration this database has not recorded; returns their names."""
    AppliedMigration.metadata.create_all(engine, tables=[AppliedMigration.__table__])  # type: ignore[attr-defined]
    with Session(engine) as session:
        done = set(session.exec(select(AppliedMigration.name)).all())
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        try:
            with engine.begin() as conn:
                step(conn)
                table = AppliedMigration.__table__  # type: ignore[attr-defined]
                conn.execute(table.insert().values(name=name, applied_at=utcnow()))
        except IntegrityError:
            continue  # another process applied it first; its transaction holds the change
        applied.append(name)
    return applied
