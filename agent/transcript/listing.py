"""Find stored conversations: newest first, filtered by status, customer and age."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.store.tables import Conversation, Event


@dataclass(frozen=True)
class ConversationSummary:
    """One line of `conversations list`: who, how it stands, how long, what it started with."""

    id: str
    status: str
    created_at: datetime
    updated_at: datetime
    events: int
    customer_id: str | None
    first_message: str

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (timestamps as ISO 8601)."""
        return {
            "id": self.id,
            "status": self.status,
            "customer_id": self.customer_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "events": self.events,
            "first_message": self.first_message,
        }


def list_conversations(
    engine: Engine,
    *,
    status: str | None = None,
    customer: str | None = None,
    since: datetime | None = None,
    limit: int | None = 20,
) -> list[ConversationSummary]:
    """Conversations, newest first; `limit` None means all."""
    with Session(engine) as session:
        query = select(Conversation).order_by(col(Conversation.created_at).desc())
        if status is not None:
            query = query.where(Conversation.status == status)
        if since is not None:
            query = query.where(col(Conversation.created_at) >= since)
        if customer is None and limit is not None:
            query = query.limit(limit)  # the customer filter reads events, so it limits later
        rows = list(session.exec(query))
        ids = [row.id for row in rows]
        stats = _event_stats(session, ids)
        customers, firsts = _customers_and_first_messages(session, ids)
    summaries = [
        ConversationSummary(
            id=row.id,
            status=row.status,
            created_at=row.created_at,
            updated_at=stats.get(row.id, (0, row.created_at))[1],
            events=stats.get(row.id, (0, row.created_at))[0],
            customer_id=customers.get(row.id),
            first_message=firsts.get(row.id, ""),
        )
        for row in rows
        if customer is None or customers.get(row.id) == customer
    ]
    return summaries if limit is None else summaries[:limit]


def _event_stats(session: Session, ids: list[str]) -> dict[str, tuple[int, datetime]]:
    if not ids:
        return {}
    query = (
        select(Event.conversation_id, func.count(), func.max(Event.created_at))
        .where(col(Event.conversation_id).in_(ids))
        .group_by(col(Event.conversation_id))
    )
    return {cid: (int(count), last) for cid, count, last in session.exec(query)}


def _customers_and_first_messages(
    session: Session, ids: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The first authenticated customer and the first customer message of each conversation."""
    if not ids:
        return {}, {}
    query = (
        select(Event.conversation_id, Event.type, Event.payload)
        .where(col(Event.conversation_id).in_(ids))
        .where(col(Event.type).in_(["user_message", "tool_result"]))
        .order_by(col(Event.conversation_id), col(Event.seq))
    )
    customers: dict[str, str] = {}
    firsts: dict[str, str] = defaultdict(str)
    for cid, kind, payload in session.exec(query):
        if kind == "user_message" and cid not in firsts:
            firsts[cid] = str(payload.get("text", ""))
        elif kind == "tool_result" and payload.get("customer_id") and cid not in customers:
            customers[cid] = str(payload["customer_id"])
    return customers, dict(firsts)
