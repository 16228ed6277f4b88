"""SQLModel tables and engine: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, event
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel, create_engine

DB_ENV = "SUPPORT_AGENT_DB"
DEFAULT_DB_PATH = Path.home() / ".local" / "share" / "support-agent" / "support-agent.db"


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


class Conversation(SQLModel, table=True):
    """One customer conversation; its history lives in Event rows."""

    id: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    status: str = "open"
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Event(SQLModel, table=True):
    """One append-only transcript entry; (conversation_id, seq) is contiguous from 1."""

    __table_args__ = (UniqueConstraint("conversation_id", "seq", name="uq_event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(index=True, foreign_key="conversation.id")
    seq: int
    type: str
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Execution(SQLModel, table=True):
    """The ledger of executed tool calls: at most one row per (conversation, tool_use id)."""

    conversation_id: str = Field(primary_key=True)
    tool_use_id: str = Field(primary_key=True)
    tool: str
    args_hash: str
    is_error: bool = False
    result: str = ""
    executed_at: datetime = Field(default_factory=utcnow)


def default_url() -> str:
    """The database URL: $SUPPORT_AGENT_DB, else a SQLite file in the user's data directory."""
    url = os.environ.get(DB_ENV)
    if url:
        return url
    DEFAULT_DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB_PATH}"


def normalize_url(url: str) -> str:
    """Accept bare paths and postgres:// URLs; PostgreSQL goes through psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let the driver issue no BEGIN of its own: we emit BEGIN IMMEDIATE so writers
    # queue on the lock instead of failing an upgrade from a read transaction.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for the URL (default: default_url()), with all tables created."""
    url = normalize_url(url or default_url())
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if create:
        from agent.migrations import migrate  # migrations import this module's tables

        migrate(engine)  # existing tables first: create_all never alters them
        SQLModel.metadata.create_all(engine)
    return engine


def redacted_url(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"
