"""What workers do: resume conversations (then tell the webhooks), deliver webhooks, hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.clock import utcnow
from agent.gate.approvals import ApprovalRow
from agent.loop import Agent, RunResult
from agent.store.lease import ConversationBusy
from agent.store.tables import Conversation, Event
from agent.worker.queue import Claimed, enqueue
from agent.worker.runner import Busy, Handler
from agent.worker.webhooks import WebhookSender, notify


def enqueue_resume(session: Session, cid: str, why: str) -> int | None:
    """Queue a resume of this conversation unless one is already waiting or running."""
    return enqueue(session, "resume", {"conversation_id": cid, "why": why}, key=f"resume:{cid}")


def notify_run(engine: Engine, urls: Sequence[str], result: RunResult, *, resumed: bool) -> None:
    """Queue the webhooks a run's result calls for."""
    if not urls:
        return
    data: dict[str, Any] = {
        "conversation_id": result.conversation_id,
        "status": result.status,
        "reason": result.reason,
    }
    with Session(engine) as session, session.begin():
        if result.status == "paused" and result.reason == "approval":
            notify(session, urls, "approval.requested", {**data, "requests": result.awaiting})
        elif result.status == "failed":
            notify(session, urls, "conversation.failed", data)
        elif resumed and result.reply:
            # A resumed conversation's reply has no HTTP caller waiting for it.
            notify(session, urls, "conversation.replied", {**data, "reply": result.reply})


@dataclass
class ResumeJob:
    """Resume one conversation from the store; a leased conversation is retried shortly."""

    make_agent: Callable[[], Agent]
    webhook_urls: Sequence[str] = ()
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def agent(self) -> Agent:
        """This thread's agent (an Agent caches conversation state and is not shared)."""
        agent: Agent | None = getattr(self._local, "agent", None)
        if agent is None:
            agent = self._local.agent = self.make_agent()
        return agent

    def __call__(self, job: Claimed) -> None:
        """Run the resume and queue the webhooks for its outcome."""
        cid = str(job.payload["conversation_id"])
        agent = self.agent()
        try:
            result = agent.resume(cid)
        except ConversationBusy as exc:
            raise Busy(str(exc)) from exc
        notify_run(agent.engine, self.webhook_urls, result, resumed=True)


@dataclass
class WaitingDecisions:
    """Safety net: a conversation whose approval was decided or expired, but not yet acted on,
    gets a resume job (so an approval is never lost if the service died after deciding)."""

    def poll(self, engine: Engine) -> None:
        """Queue resumes for paused conversations with an unconsumed decision or expiry."""
        now = utcnow()
        with Session(engine) as session, session.begin():
            rows = session.exec(
                select(ApprovalRow)
                .join(Conversation, col(Conversation.id) == col(ApprovalRow.conversation_id))
                .where(Conversation.status == "paused")
                .where(
                    or_(
                        col(ApprovalRow.status).in_(("approved", "denied", "expired")),
                        col(ApprovalRow.expires_at) <= now,
                    )
                )
            ).all()
            for row in rows:
                consumed = session.exec(
                    select(Event.payload).where(
                        Event.conversation_id == row.conversation_id,
                        Event.type == "approval_decided",
                    )
                ).all()
                if not any(p.get("request_id") == row.request_id for p in consumed):
                    enqueue_resume(session, row.conversation_id, "decision waiting")


@dataclass
class BreakerResumes:
    """Hook for the circuit breaker: once it is closed, resume conversations it paused.

    `is_closed` and `paused` come from the breaker's owner; until one is passed to the
    worker (`sources=`), no conversation is resumed on its account.
    """

    is_closed: Callable[[], bool]
    paused: Callable[[Session], list[str]]

    def poll(self, engine: Engine) -> None:
        """Queue a resume for each conversation paused by the breaker, once it has closed."""
        if not self.is_closed():
            return
        with Session(engine) as session, session.begin():
            for cid in self.paused(session):
                enqueue_resume(session, cid, "api_available")


def standard_handlers(
    engine: Engine,
    make_agent: Callable[[], Agent],
    *,
    webhook_urls: Sequence[str] = (),
    webhook_secret: str | None = None,
    triage: Handler | None = None,
) -> dict[str, Handler]:
    """Handlers for resume, webhook (with a secret) and triage (when the tickets inbox gives one).

    Hook for the tickets inbox: pass `triage=` a handler of `triage` jobs (payload: the
    ticket); without it this worker leaves triage jobs to workers that have one.
    """
    handlers: dict[str, Handler] = {"resume": ResumeJob(make_agent, webhook_urls)}
    if webhook_secret:
        handlers["webhook"] = WebhookSender(engine, webhook_secret).deliver
    if triage is not None:
        handlers["triage"] = triage
    return handlers
