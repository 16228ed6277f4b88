"""The manual tool-use loop. It fits on one screen; everything else lives elsewhere."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.gate import confirm
from agent.gate.gate import Gate, Paused, Stop, record
from agent.model.client import ModelClient, ModelError, ModelRequest, Usage
from agent.model.usage import Budget
from agent.store.lease import Lease
from agent.store.tables import Conversation
from agent.transcript.events import (
    ErrorOccurred,
    ModelRequested,
    ModelResponded,
    RunFinished,
    RunStatus,
    UserMessage,
    load,
)
from agent.transcript.state import ConversationState, fold

DONE_REASONS = {"end_turn": "", "stop_sequence": "stop sequence reached"}
FAILED_REASONS = {
    "max_tokens": "the reply hit max_tokens and was cut off; any tool call in it was not run",
    "refusal": "the model refused to continue",
    "model_context_window_exceeded": "the conversation exceeded the model's context window",
}


def _sha(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RunResult:
    """What one customer turn produced."""

    conversation_id: str
    status: RunStatus
    reply: str
    usage: Usage = field(default_factory=Usage)
    reason: str = ""
    awaiting: list[str] = field(default_factory=list)


@dataclass
class Turn:
    """What one call of run/resume has accumulated so far."""

    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    replies: list[str] = field(default_factory=list)


def _stop(state: ConversationState) -> str | None:
    """The stop reason of the last model reply, if any."""
    return state.last_response.message.stop_reason if state.last_response else None


@dataclass
class Limits:
    """Model and loop limits, from configuration."""

    model: str
    max_tokens: int
    max_model_calls: int = 10
    max_tool_calls: int = 50
    budget: Budget = field(default_factory=Budget)


@dataclass
class Agent:
    """Runs customer turns: model -> gate -> model ... until a reply, a pause or a limit."""

    engine: Engine
    model: ModelClient
    gate: Gate
    system: str
    limits: Limits
    lease: Lease = field(default=None)  # type: ignore[assignment]
    meta: dict[str, Any] = field(default_factory=dict)  # what replay needs: data, policy, model
    cached_conversations: int = 256  # states kept in memory by a long-running worker
    _states: OrderedDict[str, ConversationState] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        if self.lease is None:
            self.lease = Lease(self.engine)

    def state(self, cid: str) -> ConversationState:
        """The conversation's state: a cached fold of its events plus any appended since.

        Events are append-only, so folding only the new ones is exact, and a
        conversation of n turns costs O(n) instead of re-reading the log each step.
        """
        state = self._states.pop(cid, None) or ConversationState()
        self._states[cid] = state  # most recently used last
        while len(self._states) > self.cached_conversations:
            self._states.popitem(last=False)
        with Session(self.engine) as session:
            for stored in load(session, cid, after=state.last_seq):
                fold(state, stored)
        return state

    def run(self, cid: str, user_text: str) -> RunResult:
        """Take one customer message and drive the conversation as far as it goes."""
        with Session(self.engine) as session, session.begin():
            if session.get(Conversation, cid) is None:
                session.add(Conversation(id=cid, meta=self.meta))
        state = self.state(cid)
        events: list[UserMessage | confirm.AnswerEvent] = [UserMessage(text=user_text)]
        asked = [
            state.confirmation_asked[b["id"]]
            for b in state.pending
            if b["id"] in state.confirmation_asked and b["id"] not in state.confirmations
        ]
        for q in asked[:1]:  # the customer answers the one question they were shown
            events += confirm.answer_events(q, user_text)
        record(self.engine, cid, *events)
        return self.resume(cid)

    def resume(self, cid: str) -> RunResult:
        """Continue from the store, holding the conversation's lease while doing so."""
        with Session(self.engine) as session:
            if session.get(Conversation, cid) is None:
                raise LookupError(f"no conversation {cid!r}")
        self.lease.acquire(cid)
        try:
            return self._drive(cid)
        finally:
            self.lease.release(cid)

    def _drive(self, cid: str) -> RunResult:
        """Pending calls first, then the model, until the turn ends."""
        turn = Turn()
        while True:
            self.lease.acquire(cid)  # renews; a worker that lost it waits instead of forking
            state = self.state(cid)
            if state.handed_off:
                return self._finish(cid, turn, "handed_off", "transferred to a human")
            if state.pending:
                ended = self._gate_step(cid, state, turn)
            elif state.next_user_content() or _stop(state) == "pause_turn":
                ended = self._model_step(cid, state, turn)
            else:
                ended = self._finish(cid, turn, "done")
            if ended is not None:
                return ended

    def _gate_step(self, cid: str, state: ConversationState, turn: Turn) -> RunResult | None:
        """Take the first pending tool_use through the gate; a RunResult if the turn ends."""
        block = state.pending[0]
        if _stop(state) != "tool_use":
            # Resumed after a crash that left a cut-off reply: never run its calls.
            why = FAILED_REASONS.get(str(_stop(state)), f"stop reason {_stop(state)!r}")
            for pending in state.pending:
                self.gate.refuse(cid, pending, f"not executed: {why}")
            return self._finish(cid, turn, "failed", why)
        if state.tool_calls >= self.limits.max_tool_calls and block["id"] not in state.called:
            self.gate.refuse(
                cid,
                block,
                "tool call limit for this conversation reached; "
                "answer without tools or transfer to a human",
            )
            return None
        outcome = self.gate.process(cid, state, block)
        if isinstance(outcome, Paused):
            ask = (
                confirm.question_again if block["id"] in state.unclear_answers else confirm.question
            )
            turn.replies.append(
                ask(outcome.summary)
                if outcome.kind == "confirmation"
                else f"This needs a supervisor's approval first: {outcome.summary.rstrip('.')}."
            )
            return self._finish(
                cid, turn, "paused", outcome.kind, [outcome.request_id or outcome.summary]
            )
        if isinstance(outcome, Stop):
            return self._finish(cid, turn, "failed", outcome.reason)
        return None

    def _model_step(self, cid: str, state: ConversationState, turn: Turn) -> RunResult | None:
        """Call the model once and handle its stop reason; a RunResult if the turn ends."""
        if turn.calls >= self.limits.max_model_calls:
            return self._finish(
                cid, turn, "failed", f"model call limit ({self.limits.max_model_calls}) reached"
            )
        spent = self.limits.budget.exceeded(self.limits.model, state.usage)
        if spent:
            record(self.engine, cid, ErrorOccurred(kind="budget", message=spent))
            return self._finish(cid, turn, "failed", spent)
        turn.calls += 1
        try:
            response = self._call_model(cid, state)
        except ModelError as exc:
            record(self.engine, cid, ErrorOccurred(kind=exc.kind, message=str(exc)))
            return self._finish(cid, turn, "failed", f"{exc.kind}: {exc}")
        turn.usage = turn.usage + response.usage
        if text := response.message.text():
            turn.replies.append(text)
        stop = response.message.stop_reason or "none"
        if stop in DONE_REASONS:
            return self._finish(cid, turn, "done", DONE_REASONS[stop])
        if stop in FAILED_REASONS:
            for block in response.message.blocks_of("tool_use"):
                self.gate.refuse(cid, block, f"not executed: {FAILED_REASONS[stop]}")
            return self._finish(cid, turn, "failed", FAILED_REASONS[stop])
        if stop not in ("tool_use", "pause_turn"):
            message = f"unknown stop reason {stop!r}"
            record(self.engine, cid, ErrorOccurred(kind="stop_reason", message=message))
            return self._finish(cid, turn, "failed", message)
        return None

    def _call_model(self, cid: str, state: ConversationState) -> ModelResponded:
        request = ModelRequest(
            model=self.limits.model,
            max_tokens=self.limits.max_tokens,
            system=self.system,
            messages=state.request_messages(),
            tools=self.gate.registry.api_tools(),
        )
        record(
            self.engine,
            cid,
            ModelRequested(
                model=request.model,
                max_tokens=request.max_tokens,
                message_count=len(request.messages),
                system_sha256=_sha(request.system),
                tools_sha256=_sha(request.tools),
                messages_sha256=state.messages_sha256(),
            ),
        )
        response = self.model.respond(request)
        event = ModelResponded(
            message=response.message,
            request_id=response.request_id,
            latency_ms=response.latency_ms,
            retries=response.retries,
            usage=response.message.usage,
        )
        record(self.engine, cid, event)
        return event

    def _finish(
        self,
        cid: str,
        turn: Turn,
        status: RunStatus,
        reason: str = "",
        awaiting: list[str] | None = None,
    ) -> RunResult:
        reply = "\n\n".join(turn.replies)
        finished = RunFinished(status=status, reason=reason, reply=reply, usage=turn.usage)

        def set_status(session: Session) -> None:
            conversation = session.get(Conversation, cid)
            if conversation is not None:
                conversation.status = status
                session.add(conversation)

        record(self.engine, cid, finished, also=set_status)  # event and status together
        return RunResult(cid, status, reply, turn.usage, reason, awaiting or [])
