"""The gate: validate -> policy -> confirm/approve -> execute once. Fails closed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agent.clock import utcnow
from agent.gate.approvals import ApprovalRequest, Approver, check_decision, expiry
from agent.gate.execution import AlreadyExecuted, execute_once
from agent.registry import FieldProblem, Tool, ToolContext, ToolRegistry, args_hash
from agent.store.tables import Execution
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationRequested,
    GateDecided,
    ToolCalled,
    ToolResulted,
    ValidationFailed,
    Verdict,
    append,
    load,
)
from agent.transcript.state import ConversationState, derive


class PolicyDecision(Protocol):
    """What the gate needs from a policy decision."""

    @property
    def verdict(self) -> Verdict:
        """allow, confirm, approve or deny."""
        ...

    @property
    def rules(self) -> list[str]:
        """Ids of the matched rules, strictest first."""
        ...

    @property
    def reasons(self) -> list[str]:
        """Reasons of the matched rules, aligned with `rules`."""
        ...

    @property
    def role(self) -> str | None:
        """The role that must approve (verdict approve)."""
        ...

    @property
    def deciding_reasons(self) -> list[str]:
        """Reasons of the rules whose verdict won."""
        ...


class PolicyEvaluator(Protocol):
    """Anything that turns (tool, effect, input, facts) into a decision."""

    def evaluate(
        self,
        tool: str,
        effect: Literal["read", "write"],
        input: dict[str, Any],
        facts: dict[str, Any],
    ) -> PolicyDecision:
        """The verdict for one call; must never raise."""
        ...


@dataclass(frozen=True)
class Resolved:
    """The tool_use block now has a result in the log."""


@dataclass(frozen=True)
class Paused:
    """Waiting for the customer's confirmation or a supervisor's approval."""

    kind: Literal["confirmation", "approval"]
    summary: str
    request_id: str | None = None


@dataclass(frozen=True)
class Stop:
    """The turn must end (e.g. the invalid-input budget is spent)."""

    reason: str


Outcome = Resolved | Paused | Stop


def record(
    engine: Engine,
    conversation_id: str,
    *events: BaseModel,
    also: Callable[[Session], None] | None = None,
) -> None:
    """Append events (and run `also` in the same transaction), retrying on a taken seq."""
    for attempt in range(5):
        try:
            with Session(engine) as session, session.begin():
                append(session, conversation_id, *events)
                if also is not None:
                    also(session)
            return
        except IntegrityError:
            if attempt == 4:
                raise


def describe_problems(tool: str, problems: list[FieldProblem]) -> str:
    """The validation feedback the model reads: each field, the problem, what is expected."""
    lines = [f"Invalid input for tool {tool}:"]
    for p in problems:
        got = "" if p.got is None else f"; got {p.got!r}"
        lines.append(f"- {p.field}: {p.problem} (expected {p.expected}{got})")
    lines.append("Fix these fields and call the tool again.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Call:
    """One validated tool call on its way through the gate, with its facts and decision."""

    cid: str
    block: dict[str, Any]
    tool: Tool
    args: BaseModel
    digest: str
    facts: dict[str, Any]
    decision: PolicyDecision

    @property
    def tid(self) -> str:
        """The tool_use id."""
        return str(self.block["id"])


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

    def refuse(self, cid: str, block: dict[str, Any], message: str) -> Resolved:
        """Record an is_error result without running anything."""
        record(
            self.engine,
            cid,
            ToolResulted(
                tool_use_id=block["id"],
                name=block["name"],
                content=f"Error: {message}",
                is_error=True,
            ),
        )
        return Resolved()

    def process(self, cid: str, state: ConversationState, block: dict[str, Any]) -> Outcome:
        """Take one pending tool_use block as far as it can go now."""
        tid, name, raw = block["id"], block["name"], block.get("input")
        if tid not in state.called:
            record(self.engine, cid, ToolCalled(tool_use_id=tid, name=name, input=raw))
        if self._replay(cid, block):
            return Resolved()
        tool = self.registry.get(name)
        if tool is None:
            known = ", ".join(self.registry.tools)
            return self.refuse(cid, block, f"unknown tool {name!r}; available tools: {known}")
        parsed = self.registry.validate(tool, raw)
        if isinstance(parsed, list):
            return self._invalid(cid, state, block, parsed)
        call = self._decide(cid, state, block, tool, parsed)
        verdict = call.decision.verdict
        if verdict == "deny":
            reasons = " ".join(call.decision.deciding_reasons)
            return self.refuse(cid, block, f"refused by policy: {reasons}")
        # Every write the policy does not outright allow needs the customer's yes first.
        if verdict == "confirm" or (verdict == "approve" and tool.effect == "write"):
            outcome = self._confirmation(call, state)
            if outcome is not None:
                return outcome
        if verdict == "approve":
            outcome = self._approval(call, state)
            if outcome is not None:
                return outcome
        try:
            execute_once(self.engine, cid, tid, tool, parsed, state.customer_id)
        except AlreadyExecuted:
            self._replay(cid, block)
        return Resolved()

    def _decide(
        self,
        cid: str,
        state: ConversationState,
        block: dict[str, Any],
        tool: Tool,
        parsed: BaseModel,
    ) -> Call:
        """Compute facts, ask the policy, and record the decision when it is new."""
        dumped = parsed.model_dump(mode="json")
        with Session(self.engine) as session:
            ctx = ToolContext(session=session, conversation_id=cid, customer_id=state.customer_id)
            facts = self.registry.facts_for(ctx, tool, parsed)
        decision = self.policy.evaluate(tool.name, tool.effect, dumped, facts)
        call = Call(cid, block, tool, parsed, args_hash(tool.name, dumped), facts, decision)
        event = GateDecided(
            tool_use_id=call.tid,
            name=tool.name,
            verdict=decision.verdict,
            args_hash=call.digest,
            rules=list(decision.rules),
            reasons=list(decision.reasons),
            role=decision.role,
            facts=facts,
        )
        previous = state.decisions.get(call.tid)
        if previous is None or previous.model_dump() != event.model_dump():
            record(self.engine, cid, event)
        return call

    def _replay(self, cid: str, block: dict[str, Any]) -> bool:
        """If this tool_use id already ran, give the model the recorded result again."""
        with Session(self.engine) as session:
            done = session.get(Execution, (cid, block["id"]))
            if done is None:
                return False
            fresh = derive(load(session, cid))
        if block["id"] not in fresh.pending_ids():
            return True  # the result of this very call is already in the log
        if done.tool != block["name"]:
            message = f"Error: tool_use id {block['id']} already ran {done.tool}; nothing ran"
            result = ToolResulted(
                tool_use_id=block["id"], name=block["name"], content=message, is_error=True
            )
        else:
            result = ToolResulted(
                tool_use_id=block["id"],
                name=block["name"],
                content=done.result,
                is_error=done.is_error,
            )
        record(self.engine, cid, result)
        return True

    def _describe(self, call: Call) -> str:
        with Session(self.engine) as session:
            return call.tool.describe(call.args, session)

    def _invalid(
        self,
        cid: str,
        state: ConversationState,
        block: dict[str, Any],
        problems: list[FieldProblem],
    ) -> Outcome:
        name = block["name"]
        record(
            self.engine,
            cid,
            ValidationFailed(tool_use_id=block["id"], name=name, errors=problems),
            ToolResulted(
                tool_use_id=block["id"],
                name=name,
                content=describe_problems(name, problems),
                is_error=True,
            ),
        )
        if state.invalid_streak.get(name, 0) + 1 >= self.max_invalid:
            return Stop(f"{self.max_invalid} invalid calls in a row to {name}")
        return Resolved()

    def _confirmation(self, call: Call, state: ConversationState) -> Outcome | None:
        """None when the customer confirmed exactly these arguments."""
        answer = state.confirmations.get(call.tid)
        if answer is not None:
            if answer.type == "confirmation_given" and answer.args_hash == call.digest:
                return None
            why = (
                "the customer declined"
                if answer.type == "confirmation_declined"
                else "the confirmation was for different arguments"
            )
            return self.refuse(call.cid, call.block, f"not executed: {why} ({answer.text!r}).")
        summary = self._describe(call)
        asked = state.confirmation_asked.get(call.tid)
        if asked is None or asked.args_hash != call.digest:
            record(
                self.engine,
                call.cid,
                ConfirmationRequested(tool_use_id=call.tid, args_hash=call.digest, summary=summary),
            )
        return Paused("confirmation", summary)

    def _approval(self, call: Call, state: ConversationState) -> Outcome | None:
        """None when a supervisor with the right role approved exactly these arguments."""
        done = state.approvals.get(call.tid)
        if done is not None:
            if done.approved and done.args_hash == call.digest:
                return None
            return self.refuse(
                call.cid, call.block, f"not executed: supervisor approval refused: {done.reason}"
            )
        if self.approver is None:
            return self.refuse(
                call.cid,
                call.block,
                "not executed: supervisor approval is required but no approver is configured",
            )
        request = self._request(call, state)
        answer = self.approver.decide(request)
        now = self.clock()
        ok, why = check_decision(request, answer, now=now, roster=self.roster)
        if answer is None and now < request.expires_at:
            return Paused("approval", request.summary, request.request_id)
        record(
            self.engine,
            call.cid,
            ApprovalDecided(
                tool_use_id=call.tid,
                request_id=request.request_id,
                args_hash=call.digest,
                approved=ok,
                by=str(getattr(answer, "by", "system")),
                role=str(getattr(answer, "role", request.role)),
                reason=why,
                decided_at=now,
            ),
        )
        if ok:
            return None
        return self.refuse(
            call.cid, call.block, f"not executed: supervisor approval refused: {why}"
        )

    def _request(self, call: Call, state: ConversationState) -> ApprovalRequest:
        """The approval request for this call: the one already asked, or a new recorded one."""
        asked = state.approval_asked.get(call.tid)
        if asked is not None and asked.args_hash != call.digest:
            asked = None  # arguments changed: a fresh request, never the old decision
        request = ApprovalRequest(
            request_id=asked.request_id if asked else f"apr_{uuid.uuid4().hex[:12]}",
            conversation_id=call.cid,
            tool_use_id=call.tid,
            tool=call.tool.name,
            input=call.args.model_dump(mode="json"),
            args_hash=call.digest,
            role=asked.role if asked else call.decision.role or "supervisor",
            summary=asked.summary if asked else self._describe(call),
            reasons=asked.reasons if asked else list(call.decision.deciding_reasons),
            facts=call.facts,
            expires_at=asked.expires_at if asked else expiry(self.approval_hours, self.clock()),
        )
        if asked is None:
            record(
                self.engine,
                call.cid,
                ApprovalRequested(
                    tool_use_id=call.tid,
                    request_id=request.request_id,
                    args_hash=call.digest,
                    role=request.role,
                    summary=request.summary,
                    reasons=request.reasons,
                    expires_at=request.expires_at,
                ),
            )
        return request
