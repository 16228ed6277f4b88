"""Regression tools (`run`, `replay`) write only into stores they created themselves.

A store becomes a scratch store when a regression tool first opens it empty; a marker
row says so. A store holding anything else (conversations, approvals, domain data) was
not made by them and is refused: scripted or recorded approvals and writes never land
in live data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from agent.clock import utcnow
from agent.domain import Domain
from agent.gate.approvals import ApprovalRow
from agent.store.engine import redacted_url
from agent.store.tables import Conversation, Event, Execution


class ScratchMark(SQLModel, table=True):
    """Present in a store that a regression tool created; absent in live stores."""

    __tablename__ = "scratch_store"

    id: int | None = Field(default=None, primary_key=True)
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)


class NotScratch(Exception):
    """The store holds data a regression tool did not create; nothing was written."""


def is_scratch(engine: Engine) -> bool:
    """Whether a regression tool created this store."""
    SQLModel.metadata.create_all(engine, tables=[ScratchMark.__table__])  # type: ignore[attr-defined]
    with Session(engine) as session:
        return session.exec(select(ScratchMark)).first() is not None


def _holds_data(session: Session, domain: Domain) -> bool:
    for table in (Conversation, Event, Execution, ApprovalRow):
        if session.exec(select(table)).first() is not None:
            return True
    return any(domain.snapshot(session).values())


def claim_scratch(engine: Engine, domain: Domain, tool: str) -> None:
    """Mark an empty store as this tool's scratch store; refuse one holding other data."""
    if is_scratch(engine):
        return
    with Session(engine) as session, session.begin():
        if _holds_data(session, domain):
            raise NotScratch(
                f"{redacted_url(str(engine.url))} already holds data that `{tool}` did not "
                "create; regression tools never write into live data: give an empty database "
                "or leave out --db (a scratch one is used)"
            )
        session.add(ScratchMark(created_by=tool))
