"""Approval decisions by authenticated supervisors, shared by the JSON API and the inbox pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import utcnow
from agent.gate.approvals import ApprovalRow, QueueApprover
from agent.service.audit import audit
from agent.service.problems import Problem
from agent.service.users import Caller
from agent.worker.jobs import enqueue_resume

Listed = Literal["pending", "approved", "denied", "expired"]


class ApprovalView(BaseModel):
    """One approval request as a supervisor sees it."""

    request_id: str
    conversation_id: str
    status: str
    tool: str
    input: dict[str, Any]
    summary: str
    role: str
    reasons: list[str]
    facts: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    decision: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: ApprovalRow) -> ApprovalView:
        """From a queue row."""
        request = row.request
        return cls(
            request_id=row.request_id,
            conversation_id=row.conversation_id,
            status=row.status,
            tool=str(request.get("tool", "")),
            input=dict(request.get("input", {})),
            summary=str(request.get("summary", "")),
            role=str(request.get("role", "")),
            reasons=list(request.get("reasons", [])),
            facts=dict(request.get("facts", {})),
            created_at=row.created_at,
            expires_at=row.expires_at,
            decision=row.decision,
        )


class DecisionBody(BaseModel):
    """Why; required (non-empty) for a denial."""

    reason: str = Field("", max_length=2000)


def visible(caller: Caller, row: ApprovalRow) -> bool:
    """Admins see every request; supervisors those for roles they hold; apps none."""
    if caller.kind == "admin":
        return True
    return caller.kind == "supervisor" and str(row.request.get("role")) in caller.roles


def approvals_for(engine: Engine, caller: Caller, status: Listed | None) -> list[ApprovalView]:
    """The requests this caller may see, newest first (overdue ones marked expired)."""
    rows = QueueApprover(engine).list(status)
    return [ApprovalView.of(r) for r in reversed(rows) if visible(caller, r)]


def approval_for(engine: Engine, caller: Caller, request_id: str) -> ApprovalView:
    """One request, or 404 when it does not exist or the caller may not see it."""
    for row in QueueApprover(engine).list():
        if row.request_id == request_id and visible(caller, row):
            return ApprovalView.of(row)
    raise Problem(404, f"no approval request {request_id!r}")


def decide(
    engine: Engine, caller: Caller, request_id: str, *, approved: bool, reason: str
) -> ApprovalView:
    """Record the caller's decision, then queue the conversation's resume; errors as problems."""
    approval_for(engine, caller, request_id)  # 404 for what the caller may not see
    if not approved and not reason.strip():
        raise Problem(422, "a denial needs a reason; the customer is told why")
    try:
        row = QueueApprover(engine).record(
            request_id,
            approved=approved,
            supervisor=caller.supervisor(),
            reason=reason.strip(),
            now=utcnow(),
        )
    except LookupError as exc:
        raise Problem(404, str(exc)) from exc
    except PermissionError as exc:
        raise Problem(403, str(exc)) from exc
    except ValueError as exc:
        raise Problem(409, str(exc)) from exc
    with Session(engine) as session, session.begin():
        action = "approval.approve" if approved else "approval.deny"
        audit(session, caller.name, caller.kind, action, request_id, reason=reason)
        enqueue_resume(session, row.conversation_id, "approval decided")
    return ApprovalView.of(row)
