"""Transcript events: one discriminated union, appended to the store, exported as JSONL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from agent.clock import utcnow
from agent.model.client import AssistantMessage, ModelErrorKind, Usage
from agent.registry import FieldProblem
from agent.store.direct import Direct
from agent.store.tables import Event

FORMAT_VERSION = 1

Verdict = Literal["allow", "confirm", "approve", "deny"]
RunStatus = Literal["done", "paused", "failed", "handed_off"]
ConversationStatus = Literal["open", "done", "paused", "failed", "handed_off"]
# "api_error" and "replay" are kinds older transcripts recorded.
ErrorKind = (
    ModelErrorKind | Literal["stop_reason", "limit", "lease_lost", "facts", "api_error", "replay"]
)


class UserMessage(BaseModel):
    """The customer said something."""

    type: Literal["user_message"] = "user_message"
    text: str


class CustomerVerified(BaseModel):
    """The embedding application vouched for who the customer is (a verified id)."""

    type: Literal["customer_verified"] = "customer_verified"
    customer_id: str
    source: Literal["channel"] = "channel"


class ModelRequested(BaseModel):
    """A request is about to go to the model (hashes, not the whole history)."""

    type: Literal["model_request"] = "model_request"
    model: str
    max_tokens: int
    message_count: int
    system_sha256: str
    tools_sha256: str
    messages_sha256: str


class ModelResponded(BaseModel):
    """The model's full reply with usage, request id, latency and SDK retries."""

    type: Literal["model_response"] = "model_response"
    message: AssistantMessage
    request_id: str | None = None
    latency_ms: float = 0.0
    retries: int = 0
    usage: Usage = Field(default_factory=Usage)


class ToolCalled(BaseModel):
    """The model asked for a tool."""

    type: Literal["tool_call"] = "tool_call"
    tool_use_id: str
    name: str
    input: Any


class ValidationFailed(BaseModel):
    """The tool input did not validate; the problems went back to the model."""

    type: Literal["validation_error"] = "validation_error"
    tool_use_id: str
    name: str
    errors: list[FieldProblem]


class GateDecided(BaseModel):
    """The policy's verdict on one call, with every rule that matched."""

    type: Literal["gate_decision"] = "gate_decision"
    tool_use_id: str
    name: str
    verdict: Verdict
    args_hash: str
    rules: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    role: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)


class ConfirmationRequested(BaseModel):
    """The customer is asked to confirm this exact action."""

    type: Literal["confirmation_requested"] = "confirmation_requested"
    tool_use_id: str
    args_hash: str
    summary: str


class ConfirmationGiven(BaseModel):
    """The customer confirmed the action bound to args_hash."""

    type: Literal["confirmation_given"] = "confirmation_given"
    tool_use_id: str
    args_hash: str
    text: str


class ConfirmationDeclined(BaseModel):
    """The customer did not confirm."""

    type: Literal["confirmation_declined"] = "confirmation_declined"
    tool_use_id: str
    args_hash: str
    text: str


class ConfirmationUnclear(BaseModel):
    """The customer's answer was neither a clear yes nor a clear no; they are asked again."""

    type: Literal["confirmation_unclear"] = "confirmation_unclear"
    tool_use_id: str
    args_hash: str
    text: str


class ApprovalRequested(BaseModel):
    """A supervisor with `role` must approve this exact action."""

    type: Literal["approval_requested"] = "approval_requested"
    tool_use_id: str
    request_id: str
    args_hash: str
    role: str
    summary: str
    reasons: list[str] = Field(default_factory=list)
    expires_at: datetime


class ApprovalDecided(BaseModel):
    """A supervisor's decision (or a fail-closed denial: expired, malformed, wrong role)."""

    type: Literal["approval_decided"] = "approval_decided"
    tool_use_id: str
    request_id: str
    args_hash: str
    approved: bool
    by: str
    role: str
    reason: str = ""
    decided_at: datetime = Field(default_factory=utcnow)


class ToolResulted(BaseModel):
    """What the model is told about one tool_use block."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    name: str
    content: str
    is_error: bool = False
    executed: bool = False
    customer_id: str | None = None
    ends_conversation: bool = False


class ErrorOccurred(BaseModel):
    """Something went wrong that the run reports (API fault, limit, bad stop reason)."""

    type: Literal["error"] = "error"
    kind: ErrorKind
    message: str


class RunFinished(BaseModel):
    """One call of Agent.run ended."""

    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    reason: str = ""
    reply: str = ""
    usage: Usage = Field(default_factory=Usage)


AnyEvent = Annotated[
    UserMessage
    | CustomerVerified
    | ModelRequested
    | ModelResponded
    | ToolCalled
    | ValidationFailed
    | GateDecided
    | ConfirmationRequested
    | ConfirmationGiven
    | ConfirmationDeclined
    | ConfirmationUnclear
    | ApprovalRequested
    | ApprovalDecided
    | ToolResulted
    | ErrorOccurred
    | RunFinished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


class StoredEvent(BaseModel):
    """An event with its place in the conversation."""

    conversation_id: str
    seq: int
    at: datetime
    event: AnyEvent


def event_rows(
    conversation_id: str, first_seq: int, events: Sequence[BaseModel]
) -> list[dict[str, Any]]:
    """Rows for the event table, numbered from first_seq."""
    now = utcnow()
    return [
        {
            "conversation_id": conversation_id,
            "seq": first_seq + offset,
            "type": str(ev.type),  # type: ignore[attr-defined]
            "payload": ev.model_dump(mode="json"),
            "created_at": now,
        }
        for offset, ev in enumerate(events)
    ]


def last_seq(conn: Connection, conversation_id: str) -> int:
    """The highest sequence number of a conversation (0 when it has no events)."""
    table = Event.__table__  # type: ignore[attr-defined]
    stmt = select(func.max(table.c.seq)).where(table.c.conversation_id == conversation_id)
    return int(conn.execute(stmt).scalar() or 0)


def append(session: Session, conversation_id: str, *events: BaseModel) -> list[int]:
    """Append events inside the caller's transaction; returns their sequence numbers.

    The unique (conversation_id, seq) constraint turns a concurrent append into an
    IntegrityError for the loser, which then re-reads the log instead of forking it.
    """
    session.flush()  # rows the caller added (its conversation) go first
    conn = session.connection()
    first = last_seq(conn, conversation_id) + 1
    rows = event_rows(conversation_id, first, events)
    if rows:
        conn.execute(Event.__table__.insert(), rows)  # type: ignore[attr-defined]
    return [row["seq"] for row in rows]


def load_rows(conn: Connection, conversation_id: str, after: int = 0) -> list[StoredEvent]:
    """The events of a conversation with seq > after, in order (plain SQL, no ORM)."""
    return [
        StoredEvent(
            conversation_id=conversation_id,
            seq=seq,
            at=at,
            event=EVENT_ADAPTER.validate_python(payload),
        )
        for seq, at, payload in _EVENTS_AFTER.run(conn, {"cid": conversation_id, "seq": after}).rows
    ]


_TABLE = Event.__table__  # type: ignore[attr-defined]
_EVENTS_AFTER = Direct.of(  # built once: every turn catches up with it
    select(_TABLE.c.seq, _TABLE.c.created_at, _TABLE.c.payload)
    .where(_TABLE.c.conversation_id == bindparam("cid"), _TABLE.c.seq > bindparam("seq"))
    .order_by(_TABLE.c.seq)
)


def load(session: Session, conversation_id: str, after: int = 0) -> list[StoredEvent]:
    """The events of a conversation with seq > after, in order."""
    return load_rows(session.connection(), conversation_id, after)


def export_lines(events: list[StoredEvent], meta: dict[str, Any] | None = None) -> list[str]:
    """JSONL lines: a header (format version, conversation meta), then one event per line."""
    header: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": "support-agent-transcript"}
    if events:
        header["conversation_id"] = events[0].conversation_id
    header["meta"] = meta or {}
    lines = [json.dumps(header, sort_keys=True, default=str)]
    lines += [e.model_dump_json() for e in events]
    return lines
