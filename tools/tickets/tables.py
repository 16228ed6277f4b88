"""SQLModel tables of the inbox: tickets, their image attachments, and triage batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from agent.clock import utcnow

TicketStatus = Literal["new", "triaged", "failed", "in_progress", "done"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("new", "triaged", "failed", "in_progress", "done")
Channel = Literal["email", "chat", "web", "phone"]
CHANNELS: tuple[Channel, ...] = ("email", "chat", "web", "phone")
TriageMode = Literal["realtime", "batch"]
BatchState = Literal["submitting", "submitted", "ended"]


class Ticket(SQLModel, table=True):
    """One support ticket, its gist once triaged, and what the gist cost."""

    __tablename__ = "ticket"

    id: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)
    channel: str = "email"
    customer_email: str = Field(index=True)
    subject: str
    body: str
    status: str = Field(default="new", index=True)
    received_at: datetime = Field(default_factory=utcnow)
    gist: str | None = None  # exactly three lines joined by "\n"
    category: str | None = Field(default=None, index=True)
    urgency: str | None = None
    next_step: str | None = None
    failure: str | None = None
    model: str | None = None
    triage_mode: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_microdollars: int | None = None  # None: the model's price is unknown
    conversation_id: str | None = None
    claimed_by: str | None = None  # a triage process working on it: "host:pid:nonce"
    batch_key: str | None = Field(default=None, index=True)  # the TriageBatch it waits in
    correction: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )  # a rejected gist and its errors, sent back once for a corrective retry
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    triaged_at: datetime | None = None

    def get_status(self) -> TicketStatus:
        """The ticket's status."""
        return cast(TicketStatus, self.status)

    def gist_lines(self) -> list[str]:
        """The three gist lines (empty before triage)."""
        return self.gist.split("\n") if self.gist else []


class TicketAttachment(SQLModel, table=True):
    """One image attached to a ticket (screenshots), checked on the way in."""

    __tablename__ = "ticket_attachment"
    __table_args__ = (UniqueConstraint("ticket_id", "position", name="uq_attachment_position"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: str = Field(index=True, foreign_key="ticket.id")
    position: int
    filename: str
    media_type: str
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TriageBatch(SQLModel, table=True):
    """A Message Batch: recorded before it is created, its id stored before anyone waits."""

    __tablename__ = "triage_batch"

    key: str = Field(primary_key=True)  # ours, known before the API assigns an id
    batch_id: str | None = Field(default=None, index=True)
    state: str = "submitting"
    owner: str  # the process that submits it (see claims.new_owner)
    model: str
    requests: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # custom_id -> ticket id
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None

    def get_state(self) -> BatchState:
        """Where the batch is in its life."""
        return cast(BatchState, self.state)
