"""Supervisor approval: typed requests and decisions, and the approvers that produce them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, select

from agent.clock import utcnow

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]


class ApprovalRequest(BaseModel):
    """A write waiting for a supervisor, bound to the hash of its exact arguments."""

    request_id: str
    conversation_id: str
    tool_use_id: str
    tool: str
    input: dict[str, Any]
    args_hash: str
    role: str
    summary: str
    reasons: list[str] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)
    payout: float | None = None  # dollars the call would pay the customer, if the domain says
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ApprovalDecision(BaseModel):
    """A supervisor's answer; valid only for the request id and argument hash it names."""

    request_id: str
    args_hash: str
    approved: bool
    by: str
    role: str
    reason: str = ""
    decided_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Supervisor:
    """An authenticated approver; the roles come from configuration, never from the request."""

    name: str
    roles: frozenset[str]


NO_ROSTER = (
    "no approvers are configured, so nobody can approve: add an [approvers] table to the "
    'config file (support-agent.toml), one line per person, e.g. lee = ["team-lead"]'
)


def supervisor_from_roster(name: str, roster: Mapping[str, list[str]] | None) -> Supervisor:
    """The supervisor `name` with the roles the [approvers] roster gives them; refuses strangers."""
    if not roster:
        raise PermissionError(NO_ROSTER)
    roles = frozenset(roster.get(name, []))
    if not roles:
        raise PermissionError(
            f"{name!r} is not in the [approvers] table of the config file, so cannot approve"
        )
    return Supervisor(name=name, roles=roles)


def scripted_roster(
    decisions: Iterable[tuple[str, str]], base: Mapping[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """`base` plus a grant of each scripted (name, role): for scenario and replay stores only."""
    roster = {name: list(roles) for name, roles in (base or {}).items()}
    for name, role in decisions:
        roster.setdefault(name, [])
        if role not in roster[name]:
            roster[name].append(role)
    return roster


class Approver(Protocol):
    """Decides approval requests now, or returns None to decide later (the run pauses)."""

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """A decision for this request, or None when none is available yet."""
        ...


# Fail-closed reasons a replay must be able to recognise and reproduce.
WRONG_REQUEST = "decision is for a different approval request"
WRONG_ARGUMENTS = "decision was made for different arguments"
DECIDED_LATE = "expired before it was decided"


def check_decision(
    request: ApprovalRequest,
    decision: object,
    *,
    now: datetime,
    roster: Mapping[str, list[str]] | None = None,
) -> tuple[bool, str]:
    """Whether a decision approves this request; anything doubtful is a denial (fail closed)."""
    if decision is None:
        if now >= request.expires_at:
            return False, f"approval request {request.request_id} expired at {request.expires_at}"
        return False, "no decision yet"
    if not isinstance(decision, ApprovalDecision):
        return False, "malformed approval decision"
    if decision.request_id != request.request_id:
        return False, WRONG_REQUEST
    if decision.args_hash != request.args_hash:
        return False, WRONG_ARGUMENTS
    if decision.decided_at > request.expires_at:
        return False, f"approval request {request.request_id} {DECIDED_LATE}"
    if decision.role != request.role:
        return False, f"approver role {decision.role!r} is not the required {request.role!r}"
    if roster is not None and request.role not in roster.get(decision.by, []):
        return False, f"{decision.by!r} does not hold the role {request.role!r}"
    if not decision.approved:
        return False, decision.reason or "denied by supervisor"
    return True, decision.reason


@dataclass
class ScriptedApprover:
    """Answers from a script (scenarios, tests): tool name -> (approved, by, role, reason)."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    seen: list[ApprovalRequest] = field(default_factory=list)

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """Pop the next scripted answer; none left means 'later'."""
        self.seen.append(request)
        if not self.answers:
            return None
        answer = self.answers.pop(0)
        return ApprovalDecision(
            request_id=request.request_id,
            args_hash=answer.get("args_hash", request.args_hash),
            approved=bool(answer.get("approved")),
            by=str(answer.get("by", "scripted")),
            role=str(answer.get("role", request.role)),
            reason=str(answer.get("reason", "")),
        )


@dataclass
class ConsoleApprover:
    """Asks a supervisor at the terminal; input and output are injected callables.

    A request for a role the supervisor does not hold goes to `fallback` (the queue),
    so the person who does hold it can still decide.
    """

    supervisor: Supervisor
    ask: Callable[[str], str]
    show: Callable[[str], None]
    fallback: Approver | None = None

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """Show the request with its facts and reasons, then read approve/deny and a reason."""
        if request.role not in self.supervisor.roles:
            self.show(
                f"Approval needed from a {request.role}; {self.supervisor.name} does not hold "
                "that role, so it waits in the approval queue."
            )
            return self.fallback.decide(request) if self.fallback else None
        self.show(
            f"Approval needed ({request.role}): {request.summary}\n"
            f"  tool: {request.tool} {json.dumps(request.input, sort_keys=True)}\n"
            f"  facts: {json.dumps(request.facts, sort_keys=True, default=str)}\n"
            + "".join(f"  rule: {r}\n" for r in request.reasons)
        )
        answer = self.ask("Approve? [y/N] ").strip().lower()
        reason = self.ask("Reason: ").strip()
        return ApprovalDecision(
            request_id=request.request_id,
            args_hash=request.args_hash,
            approved=answer in {"y", "yes"},
            by=self.supervisor.name,
            role=request.role,
            reason=reason,
        )


class ApprovalRow(SQLModel, table=True):
    """The durable queue: one row per approval request, decided later by a supervisor."""

    __tablename__ = "approval"

    request_id: str = SQLField(primary_key=True)
    conversation_id: str = SQLField(index=True)
    tool_use_id: str
    status: str = SQLField(default="pending", index=True)
    request: dict[str, Any] = SQLField(sa_column=Column(JSON, nullable=False))
    decision: dict[str, Any] | None = SQLField(default=None, sa_column=Column(JSON))
    created_at: datetime = SQLField(default_factory=utcnow)
    expires_at: datetime


@dataclass
class QueueApprover:
    """Stores requests in the database; supervisors decide later (CLI); resume reads them."""

    engine: Engine

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """Enqueue the request if new; return its stored decision, if any."""
        with Session(self.engine) as session, session.begin():
            row = session.get(ApprovalRow, request.request_id)
            if row is None:
                session.add(
                    ApprovalRow(
                        request_id=request.request_id,
                        conversation_id=request.conversation_id,
                        tool_use_id=request.tool_use_id,
                        request=request.model_dump(mode="json"),
                        expires_at=request.expires_at,
                    )
                )
                return None
            if row.decision is None:
                return None
            try:
                return ApprovalDecision.model_validate(row.decision)
            except ValidationError:
                return None  # a malformed stored decision counts as no approval

    def record(
        self,
        request_id: str,
        *,
        approved: bool,
        supervisor: Supervisor,
        reason: str,
        now: datetime | None = None,
    ) -> ApprovalRow:
        """Store a supervisor's decision; refuses unknown, decided, expired or out-of-role ones."""
        now = now or utcnow()
        if not approved and not reason.strip():
            raise ValueError("a denial needs a reason (the model and the customer are told it)")
        with Session(self.engine) as session, session.begin():
            row = session.get(ApprovalRow, request_id, with_for_update=True)
            if row is None:
                raise LookupError(f"no approval request {request_id!r}")
            if row.status != "pending":
                raise ValueError(f"approval request {request_id} is already {row.status}")
            request = ApprovalRequest.model_validate(row.request)
            expired = now >= request.expires_at
            if expired:
                row.status = "expired"  # committed on leaving the block, then refused below
                session.add(row)
            else:
                return self._store(session, row, request, approved, supervisor, reason, now)
        raise ValueError(f"approval request {request_id} expired at {request.expires_at}")

    @staticmethod
    def _store(
        session: Session,
        row: ApprovalRow,
        request: ApprovalRequest,
        approved: bool,
        supervisor: Supervisor,
        reason: str,
        now: datetime,
    ) -> ApprovalRow:
        """Write the decision into the locked row, if the supervisor holds the request's role."""
        if request.role not in supervisor.roles:
            # Checked now, not only at resume: the request stays pending for the real lead.
            raise PermissionError(
                f"{supervisor.name!r} does not hold the role {request.role!r} "
                "(roles come from [approvers] in the config)"
            )
        decision = ApprovalDecision(
            request_id=request.request_id,
            args_hash=request.args_hash,
            approved=approved,
            by=supervisor.name,
            role=request.role,
            reason=reason,
            decided_at=now,
        )
        row.decision = decision.model_dump(mode="json")
        row.status = "approved" if approved else "denied"
        session.add(row)
        session.flush()
        session.expunge(row)
        return row

    def list(self, status: str | None = None, now: datetime | None = None) -> list[ApprovalRow]:
        """Requests, oldest first, optionally of one status; overdue ones are marked expired."""
        now = now or utcnow()
        with Session(self.engine) as session, session.begin():
            for row in session.exec(select(ApprovalRow).where(ApprovalRow.status == "pending")):
                if ApprovalRequest.model_validate(row.request).expires_at <= now:
                    row.status = "expired"
                    session.add(row)
        with Session(self.engine) as session:
            query = select(ApprovalRow).order_by(ApprovalRow.created_at)  # type: ignore[arg-type]
            if status:
                query = query.where(ApprovalRow.status == status)
            return list(session.exec(query).all())


def expiry(hours: float, now: datetime | None = None) -> datetime:
    """When a request made now expires."""
    return (now or utcnow()) + timedelta(hours=hours)
