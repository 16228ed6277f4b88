"""The audit trail of the service: who decided, confirmed, signed in or changed users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel

from agent.clock import utcnow


class AuditEntry(SQLModel, table=True):
    """One action by an authenticated caller."""

    __tablename__ = "service_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(index=True)
    actor_kind: str
    action: str
    target: str = ""
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def audit(
    session: Session, actor: str, kind: str, action: str, target: str = "", **detail: Any
) -> None:
    """Record an action in the caller's transaction."""
    session.add(
        AuditEntry(actor=actor, actor_kind=kind, action=action, target=target, detail=detail)
    )
