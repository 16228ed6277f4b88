"""The engine's SQLModel tables: conversations, their events, the execution ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from agent.clock import utcnow


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


class CustomerLock(SQLModel, table=True):
    """One row per customer, locked (FOR UPDATE) by a write so decisions serialise per customer."""

    __tablename__ = "customer_lock"

    customer_id: str = Field(primary_key=True)


class BreakerRow(SQLModel, table=True):
    """A model circuit breaker as every process sharing this database sees it."""

    __tablename__ = "model_breaker"

    name: str = Field(primary_key=True)
    state: str = "closed"
    open_until: datetime | None = None
    reason: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
