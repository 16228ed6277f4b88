"""The gate: validate -> facts -> policy -> confirm/approve -> execute once. Fails closed.

`step` decides on a read-only view of the store and returns the events to record plus,
when the call may run, the work that executes it. That work runs inside the log's
commit transaction: it locks the customer, decides again on fresh facts, and only then
runs the tool (`execute_once`), so a decision still holds when the write runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import utcnow
from agent.gate.approvals import ApprovalRequest, Approver, check_decision, expiry
from agent.gate.call import (
    Decided,
    Outcome,
    Paused,
    PolicyDecision,
    PolicyEvaluator,
    Refused,
    Resolved,
    Step,
    Stop,
)
from agent.gate.execution import AlreadyExecuted, execute_once, lock_customer, recorded_result
from agent.gate.policy import Decision
from agent.model.client import ToolUse
from agent.registry import (
    FieldProblem,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    args_hash,
)
from agent.store.engine import reader
from agent.transcript.events import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationRequested,
    GateDecided,
    ToolCalled,
    ToolResulted,
    ValidationFailed,
)
from agent.transcript.state import ConversationState

FACTS_UNAVAILABLE = "facts-unavailable"


def describe_problems(tool: str, problems: list[FieldProblem]) -> str:
    """The validation feedback the model reads: each field, the problem, what is expected."""
    lines = [f"Invalid input for tool {tool}:"]
    for p in problems:
        got = "" if p.got is None else f"; got {p.got!r}"
        lines.append(f"- {p.field}: {p.problem} (expected {p.expected}{got})")
    lines.append("Fix these fields and call the tool again.")
    return "\n".join(lines)


def refusal(use: ToolUse, message: str) -> ToolResulted:
    """An is_error result for a call that did not run."""
    return ToolResulted(
        tool_use_id=use.id, name=use.name, content=f"Error: {message}", is_error=True
    )


@dataclass(frozen=True)
class Call:
    """One validated tool call on its way through the gate, with its facts and decision."""

    cid: str
    use: ToolUse
    tool: Tool
    args: BaseModel
    digest: str
    facts: dict[str, Any]
    decision: PolicyDecision


Clearance = Literal["clear", "confirm", "approve", "no"]


@dataclass
class Gate:
    """Decides and executes each tool_use block; nothing else runs tools."""

    engine: Engine
    registry: ToolRegistry
    policy: PolicyEvaluator
    approver: Approver | None = None
    max_invalid: int = 3
    approval_hours: float = 24.0
    roster: Mapping[str, list[str]] | None = None
    clock: Callable[[], datetime] = utcnow

    def refuse(self, use: ToolUse, message: str) -> Step:
        """A step that records an is_error result without running anything."""
        return Step(Refused(message), [refusal(use, message)])

    def step(self, cid: str, state: ConversationState, use: ToolUse) -> Step:
        """Take one pending tool_use as far as it can go now (commits nothing).

        A call to a read tool is decided and run in the commit's transaction (one
        transaction, facts read once); anything else is decided on a read-only view first,
        and what may run re-decides inside the commit (see _execute).
        """
        called: list[AnyEvent] = []
        if use.id not in state.called:
            called.append(ToolCalled(tool_use_id=use.id, name=use.name, input=use.input))
        tool = self.registry.get(use.name)
        if tool is not None and tool.effect == "read" and use.id not in state.ran:
            return Step(Resolved(), called, execute=lambda s: self._whole(s, cid, state, use))
        with Session(reader(self.engine)) as session:
            step = self._step(session, cid, state, use)
        step.events[:0] = called
        return step

    def _whole(
        self, session: Session, cid: str, state: ConversationState, use: ToolUse
    ) -> tuple[list[AnyEvent], Outcome]:
        """Decide and, if cleared, run one call inside the caller's transaction."""
        step = self._step(session, cid, state, use)
        if step.execute is None:
            return step.events, step.outcome
        more, outcome = step.execute(session)
        return [*step.events, *more], outcome

    def _step(self, session: Session, cid: str, state: ConversationState, use: ToolUse) -> Step:
        ran = state.ran.get(use.id)
        if ran is not None:  # a reused tool_use id: the recorded result, nothing runs twice
            return Step(Resolved(), [_again(use, ran)])
        tool = self.registry.get(use.name)
        if tool is None:
            known = ", ".join(self.registry.tools)
            return self.refuse(use, f"unknown tool {use.name!r}; available tools: {known}")
        parsed = self.registry.validate(tool, use.input)
        if isinstance(parsed, list):
            return self._invalid(state, use, parsed)
        call = self._decide(session, cid, state, use, tool, parsed)
        decided = _new_decision(call, state)
        clearance, why = _clearance(call, state)
        if clearance == "no":
            return _prefixed(decided, self.refuse(use, why))
        if clearance != "clear" and (problem := _dry_run(session, call, state)) is not None:
            return _prefixed(decided, self.refuse(use, f"not possible: {problem}"))
        if clearance == "confirm":
            return _prefixed(decided, self._ask_confirmation(session, call, state))
        if clearance == "approve":
            return _prefixed(decided, self._ask_approval(session, call, state))
        return Step(Resolved(), decided, execute=lambda s: self._execute(s, call, state))

    def _decide(
        self,
        session: Session,
        cid: str,
        state: ConversationState,
        use: ToolUse,
        tool: Tool,
        args: BaseModel,
    ) -> Call:
        """Compute facts and ask the policy; an error computing facts denies (fail closed)."""
        dumped = args.model_dump(mode="json")
        try:
            with _contained(session):
                facts = self.registry.facts_for(_context(session, cid, state), tool, args)
        except Exception as exc:  # any failure here must mean "no"
            logger.opt(exception=exc).warning("facts for {} failed; denying", tool.name)
            facts = {"error": type(exc).__name__}
            reason = (
                "the facts this decision needs could not be checked "
                f"({type(exc).__name__}); nothing was done, try again later"
            )
            decision: PolicyDecision = Decision("deny", [FACTS_UNAVAILABLE], [reason], None, [])
        else:
            decision = self.policy.evaluate(tool.name, tool.effect, dumped, facts)
        return Call(cid, use, tool, args, args_hash(tool.name, dumped), facts, decision)

    def _invalid(
        self, state: ConversationState, use: ToolUse, problems: list[FieldProblem]
    ) -> Step:
        events: list[AnyEvent] = [
            ValidationFailed(tool_use_id=use.id, name=use.name, errors=problems),
            ToolResulted(
                tool_use_id=use.id,
                name=use.name,
                content=describe_problems(use.name, problems),
                is_error=True,
            ),
        ]
        if state.invalid_streak.get(use.name, 0) + 1 >= self.max_invalid:
            return Step(Stop(f"{self.max_invalid} invalid calls in a row to {use.name}"), events)
        return Step(Refused("invalid input"), events)

    def _ask_confirmation(self, session: Session, call: Call, state: ConversationState) -> Step:
        summary = call.tool.describe(call.args, session)
        asked = state.confirmation_asked.get(call.use.id)
        events: list[AnyEvent] = []
        if asked is None or asked.args_hash != call.digest:
            events.append(
                ConfirmationRequested(
                    tool_use_id=call.use.id, args_hash=call.digest, summary=summary
                )
            )
        return Step(Paused("confirmation", summary), events)

    def _ask_approval(self, session: Session, call: Call, state: ConversationState) -> Step:
        """Ask the approver; a decision made now is recorded and the call goes round again."""
        if self.approver is None:
            return self.refuse(
                call.use,
                "not executed: supervisor approval is required but no approver is configured",
            )
        request, events = self._request(session, call, state)
        answer = self.approver.decide(request)
        now = self.clock()
        if answer is None and now < request.expires_at:
            return Step(Paused("approval", request.summary, request.request_id), events)
        ok, why = check_decision(request, answer, now=now, roster=self.roster)
        events.append(
            ApprovalDecided(
                tool_use_id=call.use.id,
                request_id=request.request_id,
                args_hash=call.digest,
                approved=ok,
                by=str(getattr(answer, "by", "system")),
                role=str(getattr(answer, "role", request.role)),
                reason=why,
                decided_at=now,
            )
        )
        return Step(Decided(why), events)

    def _request(
        self, session: Session, call: Call, state: ConversationState
    ) -> tuple[ApprovalRequest, list[AnyEvent]]:
        """The approval request for this call: the one already asked, or a new one to record."""
        asked = state.approval_asked.get(call.use.id)
        if asked is not None and asked.args_hash != call.digest:
            asked = None  # arguments changed: a fresh request, never the old decision
        common = {
            "conversation_id": call.cid,
            "tool_use_id": call.use.id,
            "tool": call.tool.name,
            "input": call.args.model_dump(mode="json"),
            "args_hash": call.digest,
            "facts": call.facts,
            "payout": _payout(call.facts, self.registry.payout_fact),
        }
        if asked is not None:
            request = ApprovalRequest(
                request_id=asked.request_id,
                role=asked.role,
                summary=asked.summary,
                reasons=asked.reasons,
                expires_at=asked.expires_at,
                **common,
            )
            return request, []
        # The id is derived, not random: a crash after the queue saw the request and
        # before the event committed finds the same queue row again.
        seed = f"{call.cid}\0{call.use.id}\0{call.digest}".encode()
        request = ApprovalRequest(
            request_id="apr_" + hashlib.sha256(seed).hexdigest()[:12],
            role=call.decision.role or "supervisor",
            summary=call.tool.describe(call.args, session),
            reasons=list(call.decision.deciding_reasons),
            expires_at=expiry(self.approval_hours, self.clock()),
            **common,
        )
        event = ApprovalRequested(
            tool_use_id=call.use.id,
            request_id=request.request_id,
            args_hash=call.digest,
            role=request.role,
            summary=request.summary,
            reasons=request.reasons,
            expires_at=request.expires_at,
        )
        return request, [event]

    def _execute(
        self, session: Session, call: Call, state: ConversationState
    ) -> tuple[list[AnyEvent], Outcome]:
        """Inside the commit: lock the customer, decide again on fresh facts, run once."""
        if call.tool.effect == "write":
            lock_customer(session, state.customer_id)
            fresh = self._decide(session, call.cid, state, call.use, call.tool, call.args)
            clearance, why = _clearance(fresh, state)
            if clearance != "clear":
                decided = _new_decision(fresh, state)
                if clearance == "no":
                    return [*decided, refusal(call.use, why)], Refused(why)
                return decided, Decided(f"the decision changed to {fresh.decision.verdict}")
        ctx = _context(session, call.cid, state)
        try:
            result = execute_once(ctx, call.use.id, call.tool, call.args)
        except AlreadyExecuted:  # an earlier life of this call ran it: the model reads that
            result = recorded_result(session.connection(), call.cid, call.use)
        return [result], Resolved()


def _payout(facts: dict[str, Any], fact: str | None) -> float | None:
    """The dollars the call would pay the customer, from the fact the domain names."""
    value = facts.get(fact) if fact else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _contained(session: Session) -> AbstractContextManager[object]:
    """A savepoint on PostgreSQL, where a failed statement would doom the whole transaction.

    SQLite carries on after a failed statement, so there the savepoint would only cost.
    """
    if session.connection().dialect.name == "postgresql":
        return session.begin_nested()
    return nullcontext()


def _context(session: Session, cid: str, state: ConversationState) -> ToolContext:
    return ToolContext(
        session=session,
        conversation_id=cid,
        customer_id=state.customer_id,
        customer_said=tuple(state.customer_texts),
    )


def _new_decision(call: Call, state: ConversationState) -> list[AnyEvent]:
    """A gate_decision event, unless the same decision is already the latest recorded."""
    event = GateDecided(
        tool_use_id=call.use.id,
        name=call.tool.name,
        verdict=call.decision.verdict,
        args_hash=call.digest,
        rules=list(call.decision.rules),
        reasons=list(call.decision.reasons),
        role=call.decision.role,
        facts=call.facts,
    )
    previous = state.decisions.get(call.use.id)
    return [] if previous is not None and previous == event else [event]


def _clearance(call: Call, state: ConversationState) -> tuple[Clearance, str]:
    """What this decision still needs, given the answers recorded so far."""
    verdict, tid = call.decision.verdict, call.use.id
    if verdict == "deny":
        return "no", "refused by policy: " + " ".join(call.decision.deciding_reasons)
    # Every write the policy does not outright allow needs the customer's yes first.
    if verdict == "confirm" or (verdict == "approve" and call.tool.effect == "write"):
        answer = state.confirmations.get(tid)
        if answer is None or answer.args_hash != call.digest:
            return "confirm", ""
        if answer.type == "confirmation_declined":
            return "no", f"not executed: the customer declined ({answer.text!r})."
    if verdict == "approve":
        done = state.approvals.get(tid)
        if done is None or done.args_hash != call.digest:
            return "approve", ""
        if not done.approved:
            return "no", f"not executed: supervisor approval refused: {done.reason}"
    return "clear", ""


def _dry_run(session: Session, call: Call, state: ConversationState) -> str | None:
    """The tool's own checks, before anyone is asked to confirm or approve it."""
    if call.tool.precheck is None:
        return None
    try:
        call.tool.precheck(_context(session, call.cid, state), call.args)
    except ToolError as exc:
        return str(exc)
    return None


def _again(use: ToolUse, ran: ToolResulted) -> ToolResulted:
    """The recorded result of a tool_use id that already ran (or an error if reused)."""
    if ran.name != use.name:
        message = f"Error: tool_use id {use.id} already ran {ran.name}; nothing ran"
        return ToolResulted(tool_use_id=use.id, name=use.name, content=message, is_error=True)
    # The model reads the result again; it is not a second execution.
    return ToolResulted(
        tool_use_id=use.id, name=use.name, content=ran.content, is_error=ran.is_error
    )


def _prefixed(events: list[AnyEvent], step: Step) -> Step:
    step.events[:0] = events
    return step
