"""What a decided call still needs, and the events that say so (pure: no store, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from agent.gate.call import Decided, Outcome, PolicyDecision, Refused, Step
from agent.model.client import ToolUse
from agent.registry import FieldProblem, Tool, ToolRegistry, args_hash
from agent.transcript.events import AnyEvent, GateDecided, ToolResulted
from agent.transcript.state import ConversationState


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


def not_cleared(
    call: Call, state: ConversationState, clearance: Clearance, why: str
) -> tuple[list[AnyEvent], Outcome]:
    """A call decided inside its write that may not run (now): its decision, and why."""
    decided = new_decision(call, state)
    if clearance == "no":
        return [*decided, refusal(call.use, why)], Refused(why)
    return decided, Decided(f"the decision changed to {call.decision.verdict}")


def confirmed_as_asked(
    registry: ToolRegistry, tool: Tool, use: ToolUse, state: ConversationState
) -> BaseModel | None:
    """The parsed arguments of a write the customer confirmed exactly as last decided."""
    if tool.effect != "write" or use.id in state.ran:
        return None
    answer, last = state.confirmations.get(use.id), state.decisions.get(use.id)
    if answer is None or answer.type != "confirmation_given" or last is None:
        return None
    if last.verdict != "confirm" or last.args_hash != answer.args_hash:
        return None
    parsed = registry.validate(tool, use.input)
    if isinstance(parsed, list) or args_hash(tool.name, parsed.model_dump(mode="json")) != (
        answer.args_hash
    ):
        return None
    return parsed


def new_decision(call: Call, state: ConversationState) -> list[AnyEvent]:
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


def still_needed(call: Call, state: ConversationState) -> tuple[Clearance, str]:
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


def replayed(use: ToolUse, ran: ToolResulted) -> ToolResulted:
    """The recorded result of a tool_use id that already ran (or an error if reused)."""
    if ran.name != use.name:
        message = f"Error: tool_use id {use.id} already ran {ran.name}; nothing ran"
        return ToolResulted(tool_use_id=use.id, name=use.name, content=message, is_error=True)
    # The model reads the result again; it is not a second execution.
    return ToolResulted(
        tool_use_id=use.id, name=use.name, content=ran.content, is_error=ran.is_error
    )


def prefixed(events: list[AnyEvent], step: Step) -> Step:
    step.events[:0] = events
    return step
