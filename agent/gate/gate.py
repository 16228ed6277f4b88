"""The gate: validate -> facts -> policy -> confirm/approve -> execute once. Fails closed.

`step` returns the events to record plus, when the call may run, the work that executes
it inside the log's commit transaction. A write is decided on a read-only view first
(asking, dry run, approvals happen there, never under the write lock); the work then
locks the customer, decides again on fresh facts, and only then runs the tool
(`execute_once`), so a decision still holds when the write runs. Reads, and a write the
customer confirmed exactly as last decided, are decided once, inside that work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loguru import logger
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import utcnow
from agent.gate.approvals import ApprovalRequest, Approver, check_decision, expiry
from agent.gate.call import (
    Decided,
    Execution,
    Outcome,
    Paused,
    PolicyDecision,
    PolicyEvaluator,
    ReadsFacts,
    Refused,
    Resolved,
    Step,
    Stop,
)
from agent.gate.clearance import (
    Call,
    confirmed_as_asked,
    describe_problems,
    new_decision,
    not_cleared,
    prefixed,
    refusal,
    replayed,
    still_needed,
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
from agent.store.contain import attempts, contained
from agent.store.engine import read_only
from agent.transcript.events import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationRequested,
    ToolCalled,
    ToolResulted,
    ValidationFailed,
)
from agent.transcript.state import ConversationState

FACTS_UNAVAILABLE = "facts-unavailable"


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

        A read, or a write confirmed exactly as last decided, is decided and run in the
        commit's transaction (facts read once); anything else is decided on a read-only
        view first, and what may run re-decides inside the commit (see _execute).
        """
        called: list[AnyEvent] = []
        if use.id not in state.called:
            called.append(ToolCalled(tool_use_id=use.id, name=use.name, input=use.input))
        tool = self.registry.get(use.name)
        if tool is not None and tool.effect == "read" and use.id not in state.ran:
            return Step(Resolved(), called, execute=lambda s: self._whole(s, cid, state, use))
        if (
            tool is not None
            and (args := confirmed_as_asked(self.registry, tool, use, state)) is not None
        ):
            # The customer said yes to exactly this: decide once, inside the write.
            work = self._confirmed(cid, state, use, tool, args)
            return Step(Resolved(), called, execute=work)
        step = attempts(lambda: self._step_read_only(cid, state, use), lambda: None)
        step.events[:0] = called
        return step

    def _step_read_only(self, cid: str, state: ConversationState, use: ToolUse) -> Step:
        with read_only(self.engine) as session:
            return self._step(session, cid, state, use)

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
            return Step(Resolved(), [replayed(use, ran)])
        tool = self.registry.get(use.name)
        if tool is None:
            known = ", ".join(self.registry.tools)
            return self.refuse(use, f"unknown tool {use.name!r}; available tools: {known}")
        parsed = self.registry.validate(tool, use.input)
        if isinstance(parsed, list):
            return self._invalid(state, use, parsed)
        call = self._decide(session, cid, state, use, tool, parsed)
        decided = new_decision(call, state)
        clearance, why = still_needed(call, state)
        if clearance == "no":
            return prefixed(decided, self.refuse(use, why))
        if clearance != "clear" and (problem := _dry_run(session, call, state)) is not None:
            return prefixed(decided, self.refuse(use, f"not possible: {problem}"))
        if clearance == "confirm":
            return prefixed(decided, self._ask_confirmation(session, call, state))
        if clearance == "approve":
            return prefixed(decided, self._ask_approval(session, call, state))
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
            with contained(session, writes=False):
                ctx = _context(session, cid, state, wanted=_read_by(self.policy, tool))
                facts = self.registry.facts_for(ctx, tool, args)
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

    def _confirmed(
        self, cid: str, state: ConversationState, use: ToolUse, tool: Tool, args: BaseModel
    ) -> Execution:
        """The work for a write the customer confirmed: lock, decide on fresh facts, run.

        Taken only when the last decision asked for exactly that confirmation, so it is
        decided once, inside the write; a verdict that became stricter is recorded and
        the call goes round again (Decided), through the read-only path.
        """
        return lambda s: self._decide_locked(s, cid, state, use, tool, args, record=True)

    def _execute(
        self, session: Session, call: Call, state: ConversationState
    ) -> tuple[list[AnyEvent], Outcome]:
        """Inside the commit: lock the customer, decide again on fresh facts, run once."""
        if call.tool.effect == "write":
            args = (call.cid, state, call.use, call.tool, call.args)
            return self._decide_locked(session, *args, record=False)
        return [self._run(session, call, state)], Resolved()

    def _decide_locked(
        self,
        session: Session,
        cid: str,
        state: ConversationState,
        use: ToolUse,
        tool: Tool,
        args: BaseModel,
        *,
        record: bool,
    ) -> tuple[list[AnyEvent], Outcome]:
        """Lock the customer, decide, and run the write if it is still cleared.

        `record`: also record the decision when it is new (nothing was decided before
        in this step); a stricter one is always recorded.
        """
        lock_customer(session, state.customer_id)
        call = self._decide(session, cid, state, use, tool, args)
        clearance, why = still_needed(call, state)
        if clearance != "clear":
            return not_cleared(call, state, clearance, why)
        decided = new_decision(call, state) if record else []
        return [*decided, self._run(session, call, state)], Resolved()

    def _run(self, session: Session, call: Call, state: ConversationState) -> ToolResulted:
        """Execute once, or the result an earlier life of this call recorded."""
        ctx = _context(session, call.cid, state)
        try:
            return execute_once(ctx, call.use.id, call.tool, call.args, call.digest)
        except AlreadyExecuted:  # an earlier life of this call ran it: the model reads that
            return recorded_result(session.connection(), call.cid, call.use)


def _payout(facts: dict[str, Any], fact: str | None) -> float | None:
    """The dollars the call would pay the customer, from the fact the domain names."""
    value = facts.get(fact) if fact else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _read_by(policy: PolicyEvaluator, tool: Tool) -> Callable[[str], bool] | None:
    """Which facts the policy may read for a call of this tool (None: it cannot say)."""
    if not isinstance(policy, ReadsFacts):
        return None
    return lambda fact: policy.reads_fact(tool.name, tool.effect, fact)


def _context(
    session: Session,
    cid: str,
    state: ConversationState,
    wanted: Callable[[str], bool] | None = None,
) -> ToolContext:
    return ToolContext(
        session=session,
        conversation_id=cid,
        customer_id=state.customer_id,
        customer_said=tuple(state.customer_texts),
        wanted=wanted,
    )


def _dry_run(session: Session, call: Call, state: ConversationState) -> str | None:
    """The tool's own checks, before anyone is asked to confirm or approve it."""
    if call.tool.precheck is None:
        return None
    try:
        call.tool.precheck(_context(session, call.cid, state), call.args)
    except ToolError as exc:
        return str(exc)
    return None
