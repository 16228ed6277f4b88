"""Read models the API and the inbox show: a conversation's status, its transcript lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.gate.approvals import ApprovalRow
from agent.store.tables import Conversation
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    load,
)
from agent.transcript.redact import redact_transcript
from agent.transcript.state import derive

Speaker = Literal["customer", "agent", "tool", "system", "supervisor"]


class PendingConfirmation(BaseModel):
    """A write waiting for the customer's yes, bound to its argument hash."""

    tool_use_id: str
    args_hash: str
    summary: str


class ApprovalStatusView(BaseModel):
    """One approval request of a conversation and where it stands."""

    request_id: str
    status: str
    role: str
    summary: str
    expires_at: datetime


class ConversationView(BaseModel):
    """Where a conversation stands: status, who the customer is, what it waits for."""

    id: str
    status: str
    customer_id: str | None
    created_at: datetime
    last_reply: str = ""
    pending_confirmations: list[PendingConfirmation] = Field(default_factory=list)
    approvals: list[ApprovalStatusView] = Field(default_factory=list)


class TranscriptLine(BaseModel):
    """One readable line of a conversation, for people (the inbox)."""

    seq: int
    at: datetime
    speaker: Speaker
    text: str


def conversation_row(engine: Engine, cid: str) -> Conversation | None:
    """The conversation's row, or None."""
    with Session(engine) as session:
        return session.get(Conversation, cid)


def verified_customer(engine: Engine, cid: str) -> str | None:
    """The customer id the embedding application vouched for when it opened the conversation."""
    conversation = conversation_row(engine, cid)
    value = conversation.meta.get("customer_id") if conversation is not None else None
    return value if isinstance(value, str) else None


def conversation_view(engine: Engine, conversation: Conversation) -> ConversationView:
    """The conversation's status derived from its events and the approval queue."""
    with Session(engine) as session:
        events = load(session, conversation.id)
        rows = session.exec(
            select(ApprovalRow)
            .where(ApprovalRow.conversation_id == conversation.id)
            .order_by(col(ApprovalRow.created_at))
        ).all()
    state = derive(events)
    pending = [
        PendingConfirmation(
            tool_use_id=b.id,
            args_hash=state.confirmation_asked[b.id].args_hash,
            summary=state.confirmation_asked[b.id].summary,
        )
        for b in state.pending
        if b.id in state.confirmation_asked and b.id not in state.confirmations
    ]
    replies = [e.event.reply for e in events if isinstance(e.event, RunFinished) and e.event.reply]
    return ConversationView(
        id=conversation.id,
        status=conversation.status,
        customer_id=state.customer_id or conversation.meta.get("customer_id"),
        created_at=conversation.created_at,
        last_reply=replies[-1] if replies else "",
        pending_confirmations=pending,
        approvals=[
            ApprovalStatusView(
                request_id=r.request_id,
                status=r.status,
                role=str(r.request.get("role", "")),
                summary=str(r.request.get("summary", "")),
                expires_at=r.expires_at,
            )
            for r in rows
        ],
    )


def transcript_events(engine: Engine, cid: str, *, pii: bool) -> list[StoredEvent]:
    """The conversation's events, with personal data masked unless `pii`."""
    with Session(engine) as session:
        events = load(session, cid)
    return events if pii else redact_transcript(events)[0]


def _line(ev: Any) -> tuple[Speaker, str] | None:
    match ev:
        case UserMessage(text=text):
            return "customer", text
        case ModelResponded(message=message):
            text = message.text()
            return ("agent", text) if text else None
        case ToolCalled(name=name):
            return "tool", f"calls {name}"
        case ToolResulted(name=name, is_error=True, content=content):
            return "tool", f"{name} refused: {content}"
        case ToolResulted(name=name, executed=True):
            return "tool", f"{name} done"
        case ConfirmationRequested(summary=summary):
            return "system", f"asks the customer to confirm: {summary}"
        case ConfirmationGiven(text=text):
            return "customer", f"confirmed ({text})"
        case ConfirmationDeclined(text=text):
            return "customer", f"declined ({text})"
        case ApprovalRequested(role=role, summary=summary):
            return "system", f"needs approval by a {role}: {summary}"
        case ApprovalDecided(approved=approved, by=by, reason=reason):
            verdict = f"{'approved' if approved else 'denied'} by {by}"
            return "supervisor", f"{verdict}: {reason}" if reason else verdict
        case _:
            return None


def transcript_lines(events: list[StoredEvent]) -> list[TranscriptLine]:
    """The events people read, in order (plain text: templates escape it)."""
    lines = []
    for stored in events:
        line = _line(stored.event)
        if line is not None:
            lines.append(
                TranscriptLine(seq=stored.seq, at=stored.at, speaker=line[0], text=line[1])
            )
    return lines
