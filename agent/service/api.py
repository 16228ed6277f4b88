"""The JSON API: conversations, messages (JSON or server-sent events), confirmations."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from agent.loop import RunResult
from agent.model.client import Usage
from agent.service.audit import audit
from agent.service.auth import context, current_caller, may_read, may_write, require
from agent.service.problems import Problem
from agent.service.runtime import ServiceContext
from agent.service.stream import stream_run
from agent.service.users import Caller
from agent.service.views import (
    ConversationView,
    conversation_row,
    conversation_view,
    verified_customer,
)
from agent.service.views import transcript_events as load_transcript
from agent.store.lease import ConversationBusy
from agent.store.tables import Conversation
from agent.transcript.events import (
    AnyEvent,
    ConfirmationDeclined,
    ConfirmationGiven,
    StoredEvent,
)
from agent.worker.jobs import enqueue_resume, notify_run

router = APIRouter(prefix="/v1", tags=["conversations"])
App = Depends(require("app", "admin"))


class NewConversation(BaseModel):
    """Start a conversation, optionally for a customer the embedding application verified."""

    customer_id: str | None = Field(None, min_length=1, max_length=200)


class CustomerMessage(BaseModel):
    """What the customer wrote."""

    text: str = Field(min_length=1, max_length=8000)


class RunView(BaseModel):
    """What one customer message produced."""

    conversation_id: str
    status: str
    reply: str
    reason: str = ""
    awaiting: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    @classmethod
    def of(cls, result: RunResult) -> RunView:
        """From the loop's RunResult."""
        return cls(
            conversation_id=result.conversation_id,
            status=result.status,
            reply=result.reply,
            reason=result.reason,
            awaiting=result.awaiting,
            usage=result.usage,
        )


class ConfirmationAnswer(BaseModel):
    """The customer's structured answer, bound to the argument hash they were shown."""

    decision: Literal["confirm", "decline"]
    args_hash: str = Field(min_length=1, max_length=128)


class Queued(BaseModel):
    """The work was accepted; a worker continues the conversation."""

    conversation_id: str
    queued: bool


class Transcript(BaseModel):
    """A conversation's events; personal data masked unless the caller may see it."""

    conversation_id: str
    redacted: bool
    events: list[StoredEvent]


def _conversation(ctx: ServiceContext, cid: str, caller: Caller, *, write: bool) -> Conversation:
    conversation = conversation_row(ctx.engine, cid)
    if conversation is None or not may_read(caller, conversation):
        raise Problem(404, f"no conversation {cid!r}")
    if write and not may_write(caller, conversation):
        raise Problem(403, "only the application that started this conversation may write to it")
    return conversation


@router.post("/conversations", status_code=201)
def create_conversation(
    body: NewConversation, request: Request, caller: Caller = App
) -> ConversationView:
    """Start a conversation; `customer_id` is trusted as verified by the calling application."""
    ctx = context(request)
    agent = ctx.agent()
    meta: dict[str, Any] = {
        **agent.meta.model_dump(mode="json", exclude_none=True),
        "created_by": caller.name,
    }
    if body.customer_id:
        meta["customer_id"] = body.customer_id
    conversation = Conversation(id=f"conv_{uuid.uuid4().hex[:16]}", meta=meta)
    with Session(ctx.engine) as session, session.begin():
        session.add(conversation)
        session.flush()
        session.expunge(conversation)
    return conversation_view(ctx.engine, conversation)


@router.post(
    "/conversations/{cid}/messages",
    response_model=RunView,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def post_message(
    cid: str, body: CustomerMessage, request: Request, caller: Caller = App
) -> RunView | StreamingResponse:
    """Take a customer message and answer with the run's result (or stream it as SSE)."""
    ctx = context(request)
    _conversation(ctx, cid, caller, write=True)
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            stream_run(ctx, cid, body.text),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    try:
        result = ctx.agent().run(cid, body.text, customer_id=verified_customer(ctx.engine, cid))
    except ConversationBusy as exc:
        raise Problem(409, str(exc)) from exc
    notify_run(ctx.engine, ctx.webhook_urls, result, resumed=False)
    return RunView.of(result)


@router.get("/conversations/{cid}")
def get_conversation(
    cid: str, request: Request, caller: Caller = Depends(current_caller)
) -> ConversationView:
    """Status, the customer, pending confirmations and approvals, the last reply."""
    ctx = context(request)
    return conversation_view(ctx.engine, _conversation(ctx, cid, caller, write=False))


@router.get("/conversations/{cid}/transcript")
def get_transcript(
    cid: str, request: Request, caller: Caller = Depends(current_caller)
) -> Transcript:
    """Every event; emails, names, addresses, payment ids masked unless the caller sees PII."""
    ctx = context(request)
    _conversation(ctx, cid, caller, write=False)
    events = load_transcript(ctx.engine, cid, pii=caller.may_see_pii)
    return Transcript(conversation_id=cid, redacted=not caller.may_see_pii, events=events)


@router.post("/conversations/{cid}/confirmations/{tool_use_id}", status_code=202)
def answer_confirmation(
    cid: str, tool_use_id: str, body: ConfirmationAnswer, request: Request, caller: Caller = App
) -> Queued:
    """Confirm or decline the exact action shown; a stale or different argument hash is refused."""
    ctx = context(request)
    _conversation(ctx, cid, caller, write=True)
    log = ctx.agent().log(cid)

    def answer(session: Session) -> tuple[list[AnyEvent], None]:
        # Checked under the conversation's lease, so two answers cannot both land.
        state = log.state
        asked = state.confirmation_asked.get(tool_use_id)
        if asked is None or tool_use_id not in {u.id for u in state.pending}:
            raise Problem(404, f"no pending confirmation {tool_use_id!r} in {cid}")
        if tool_use_id in state.confirmations:
            raise Problem(409, f"confirmation {tool_use_id} was already answered")
        if body.args_hash != asked.args_hash:
            raise Problem(
                409, "the confirmation is for different arguments than the pending action"
            )
        kind = ConfirmationGiven if body.decision == "confirm" else ConfirmationDeclined
        event = kind(
            tool_use_id=tool_use_id, args_hash=asked.args_hash, text=f"{body.decision} (API)"
        )
        audit(
            session,
            caller.name,
            caller.kind,
            f"confirmation.{body.decision}",
            cid,
            tool=tool_use_id,
        )
        enqueue_resume(session, cid, "confirmed")
        return [event], None

    try:
        log.commit(work=answer, take_lease=True, release=True)
    except ConversationBusy as exc:
        raise Problem(409, str(exc)) from exc
    return Queued(conversation_id=cid, queued=True)
