"""The manual tool-use loop. It fits on one screen; everything else lives elsewhere."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import assert_never

from sqlalchemy.engine import Engine

from agent.digest import json_sha256
from agent.gate import confirm
from agent.gate.call import Decided, Outcome, Paused, Refused, Resolved, Stop
from agent.gate.clearance import refusal
from agent.gate.gate import Gate
from agent.model.client import ModelClient, ModelError, ModelRequest, Usage
from agent.model.context import fit_request, fixed_tokens
from agent.model.spend import SpendGuard
from agent.model.usage import Budget
from agent.store.engine import read_only
from agent.store.lease import ConversationBusy, Lease
from agent.store.tables import Conversation
from agent.transcript.events import (
    AnyEvent,
    CustomerVerified,
    ErrorOccurred,
    ModelRequested,
    ModelResponded,
    RunFinished,
    RunStatus,
    UserMessage,
)
from agent.transcript.files import TranscriptMeta
from agent.transcript.log import ConversationLog, StaleTurn
from agent.transcript.state import ConversationState

API_UNAVAILABLE_REPLY = (
    "Sorry, I can't reach our assistant right now. Your message is saved and we will "
    "answer as soon as the service is back."
)
DONE_REASONS = {"end_turn": "", "stop_sequence": "stop sequence reached"}
FAILED_REASONS = {
    "max_tokens": "the reply hit max_tokens and was cut off; any tool call in it was not run",
    "refusal": "the model refused to continue",
    "model_context_window_exceeded": "the conversation exceeded the model's context window",
}


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

    log: ConversationLog
    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    replies: list[str] = field(default_factory=list)


@dataclass
class Limits:
    """Model and loop limits, from configuration."""

    model: str
    max_tokens: int
    max_model_calls: int = 10
    max_tool_calls: int = 50
    budget: Budget = field(default_factory=Budget)
    context_budget: int | None = None  # history trimmed to this many tokens (None: never)


@dataclass
class Agent:
    """Runs customer turns: model -> gate -> model ... until a reply, a pause or a limit."""

    engine: Engine
    model: ModelClient
    gate: Gate
    system: str
    limits: Limits
    lease: Lease = field(default=None)  # type: ignore[assignment]
    meta: TranscriptMeta = field(default_factory=TranscriptMeta)  # what replay needs
    cached_conversations: int = 256  # logs kept in memory by a long-running worker
    spend_guard: SpendGuard | None = None  # per-customer limits and the spend alert
    _logs: OrderedDict[str, ConversationLog] = field(default_factory=OrderedDict, repr=False)
    _hashes: tuple[str, str] = ("", "")
    _fixed: int | None = None  # estimated tokens of the system prompt and tools

    def __post_init__(self) -> None:
        self.lease = self.lease or Lease(self.engine)
        self._hashes = (json_sha256(self.system), json_sha256(self.gate.registry.api_tools()))

    def log(self, cid: str) -> ConversationLog:
        """The conversation's log, cached (least recently used dropped first)."""
        log = self._logs.pop(cid, None) or ConversationLog(self.engine, cid, self.lease)
        self._logs[cid] = log
        while len(self._logs) > self.cached_conversations:
            self._logs.popitem(last=False)
        return log

    def state(self, cid: str) -> ConversationState:
        """The conversation's state as the store has it now."""
        return self.log(cid).refresh()

    def run(self, cid: str, user_text: str, *, customer_id: str | None = None) -> RunResult:
        """Take one customer message (and a verified customer id) and drive the turn."""
        log = self.log(cid)
        refusal = self.spend_guard.check(cid) if self.spend_guard else None

        def receive() -> list[AnyEvent]:
            known = log.state.customer_id
            if customer_id is not None and known not in (None, customer_id):
                raise ValueError(f"conversation {cid} belongs to another or no verified customer")
            verified = (
                [CustomerVerified(customer_id=customer_id)] if customer_id and not known else []
            )
            said: list[AnyEvent] = [*verified, UserMessage(text=user_text)]
            if refusal is not None:  # over a customer limit: keep the message, answer politely
                return [*said, ErrorOccurred(kind="budget", message=refusal.reason)]
            return [*said, *_answer(log.state, user_text)]

        def turn() -> RunResult:
            if refusal is not None:
                return self._finish(Turn(log, replies=[refusal.reply]), "paused", "customer_limit")
            return self._drive(Turn(log))

        return self._opened(log, receive, turn)

    def resume(self, cid: str) -> RunResult:
        """Continue from the store, holding the conversation's lease while doing so."""
        with read_only(self.engine) as session:
            if session.get(Conversation, cid) is None:
                raise LookupError(f"no conversation {cid!r}")
        log = self.log(cid)
        return self._opened(log, list, lambda: self._drive(Turn(log)))

    def _opened(
        self,
        log: ConversationLog,
        first: Callable[[], list[AnyEvent]],
        turn: Callable[[], RunResult],
    ) -> RunResult:
        """Open the turn with its first events and run it; the first commit takes the lease.

        With a cached state the events are derived from it, and the commit that takes
        the lease refuses them (StaleTurn, nothing written) if anyone appended since;
        the turn is then opened again on the fresh state. Without one (a conversation
        this agent has not seen), one commit takes the lease, reads the store and writes
        the events derived from it. While another worker holds the lease, wait up to
        lease.wait.
        """
        deadline = time.monotonic() + self.lease.wait
        meta = self.meta.model_dump(mode="json", exclude_none=True)
        while True:
            try:
                if log.synced:
                    log.open_turn(first(), meta=meta)
                else:
                    log.commit(
                        work=lambda _: (first(), None),
                        take_lease=True,
                        create=meta,
                        durable=False,  # what the customer said: the next commit syncs it
                    )
                return turn()
            except StaleTurn:  # the cache was read again: derive the events anew
                if time.monotonic() >= deadline:
                    raise
            except ConversationBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _drive(self, turn: Turn) -> RunResult:
        """Pending calls first, then the model, until the turn ends."""
        try:
            while True:
                state = turn.log.state
                if state.handed_off:
                    return self._finish(turn, "handed_off", "transferred to a human")
                if state.pending:
                    ended = self._gate_step(turn, state)
                elif state.next_user_content() or _stop(state) == "pause_turn":
                    ended = self._model_step(turn, state)
                else:
                    ended = self._finish(turn, "done")
                if ended is not None:
                    return ended
        except BaseException:
            turn.log.discard()
            if turn.log.holds_lease:
                self.lease.release(turn.log.conversation_id)
            raise

    def _gate_step(self, turn: Turn, state: ConversationState) -> RunResult | None:
        """Take the first pending tool_use through the gate; a RunResult if the turn ends."""
        log, use = turn.log, state.pending[0]
        if _stop(state) != "tool_use":  # resumed after a crash left a cut-off reply
            why = FAILED_REASONS.get(str(_stop(state)), f"stop reason {_stop(state)!r}")
            refused = [refusal(u, f"not executed: {why}") for u in state.pending]
            return self._finish(turn, "failed", why, events=refused)
        if state.tool_calls >= self.limits.max_tool_calls and use.id not in state.called:
            log.commit(
                [
                    refusal(
                        use,
                        "tool call limit for this conversation reached; "
                        "answer without tools or transfer to a human",
                    )
                ]
            )
            return None
        step = self.gate.step(log.conversation_id, state, use)
        outcome: Outcome = step.outcome
        ending: list[AnyEvent] = []  # a pause or stop commits its events with the turn's end
        if step.execute is None and isinstance(outcome, Paused | Stop):
            ending = step.events
        elif step.execute is None:
            log.commit(step.events)
        else:
            outcome = log.commit(step.events, work=step.execute)
        match outcome:
            case Paused(kind="confirmation", summary=summary):
                again = use.id in state.unclear_answers
                turn.replies.append(
                    (confirm.question_again if again else confirm.question)(summary)
                )
                return self._finish(turn, "paused", "confirmation", [summary], events=ending)
            case Paused(summary=summary, request_id=request_id):
                turn.replies.append(confirm.approval_notice(summary))
                awaiting = [request_id or summary]
                return self._finish(turn, "paused", "approval", awaiting, events=ending)
            case Stop(reason=reason):
                return self._finish(turn, "failed", reason, events=ending)
            case Resolved() | Refused() | Decided():
                return None
            case _:
                assert_never(outcome)

    def _model_step(self, turn: Turn, state: ConversationState) -> RunResult | None:
        """Call the model once and handle its stop reason; a RunResult if the turn ends."""
        if turn.calls >= self.limits.max_model_calls:
            return self._finish(
                turn, "failed", f"model call limit ({self.limits.max_model_calls}) reached"
            )
        spent = self.limits.budget.exceeded(self.limits.model, state.usage)
        if spent:
            return self._finish(
                turn, "failed", spent, events=[ErrorOccurred(kind="budget", message=spent)]
            )
        turn.calls += 1
        if turn.log.opening:  # the lease and what the customer said, before the call
            turn.log.commit(durable=False)
        request = ModelRequest(
            model=self.limits.model,
            max_tokens=self.limits.max_tokens,
            system=self.system,
            messages=state.request_messages(),
            tools=self.gate.registry.api_tools(),
        )
        count = getattr(self.model, "count_tokens", lambda _request: None)
        if self._fixed is None:  # system and tools never change: estimated once
            self._fixed = fixed_tokens(request)
        budget = self.limits.context_budget
        rough = None if budget is None else state.messages_estimate()  # kept, not re-encoded
        request = fit_request(request, budget, count, self._fixed, rough)
        requested = ModelRequested(
            model=request.model,
            max_tokens=request.max_tokens,
            message_count=len(request.messages),
            system_sha256=self._hashes[0],
            tools_sha256=self._hashes[1],
            messages_sha256=state.messages_sha256(),
        )
        turn.log.stage(requested)  # written with the reply (or the error) in one commit
        try:
            with self.lease.kept_alive(turn.log.conversation_id):
                response = self.model.respond(request)
        except ModelError as exc:
            error = ErrorOccurred(kind=exc.kind, message=str(exc))
            if exc.api_unavailable:  # transient: resumable (resume --all-paused) once it is back
                turn.replies.append(API_UNAVAILABLE_REPLY)
                return self._finish(turn, "paused", "api_unavailable", events=[error])
            return self._finish(turn, "failed", f"{exc.kind}: {exc}", events=[error])
        responded = ModelResponded(
            message=response.message,
            request_id=response.request_id,
            latency_ms=response.latency_ms,
            retries=response.retries,
            usage=response.message.usage,
        )
        turn.log.stage(responded)  # committed with the next step's events
        turn.usage = turn.usage + responded.usage
        if text := response.message.text():
            turn.replies.append(text)
        stop = response.message.stop_reason or "none"
        if stop in DONE_REASONS:  # a tool_use in a finished reply is answered, never run
            unrun = [
                refusal(u, "not executed: the reply ended its turn") for u in turn.log.state.pending
            ]
            return self._finish(turn, "done", DONE_REASONS[stop], events=unrun)
        if stop in FAILED_REASONS:
            refused = [
                refusal(u, f"not executed: {FAILED_REASONS[stop]}") for u in turn.log.state.pending
            ]
            return self._finish(turn, "failed", FAILED_REASONS[stop], events=refused)
        if stop not in ("tool_use", "pause_turn"):
            message = f"unknown stop reason {stop!r}"
            error = ErrorOccurred(kind="stop_reason", message=message)
            return self._finish(turn, "failed", message, events=[error])
        return None

    def _finish(
        self,
        turn: Turn,
        status: RunStatus,
        reason: str = "",
        awaiting: list[str] | None = None,
        *,
        events: Sequence[AnyEvent] = (),
    ) -> RunResult:
        """Record the end of the turn, the conversation's status and the lease's release."""
        reply = "\n\n".join(turn.replies)
        finished = RunFinished(status=status, reason=reason, reply=reply, usage=turn.usage)
        turn.log.commit([*events, finished], status=status, release=True)
        return RunResult(
            turn.log.conversation_id, status, reply, turn.usage, reason, awaiting or []
        )


def _answer(state: ConversationState, text: str) -> list[confirm.AnswerEvent]:
    """The customer's message read as the answer to the one question they were shown."""
    for use in state.pending:
        asked = state.confirmation_asked.get(use.id)
        if asked is not None and use.id not in state.confirmations:
            return confirm.answer_events(asked, text)
    return []


def _stop(state: ConversationState) -> str | None:
    """The stop reason of the last model reply, if any."""
    return state.last_response.message.stop_reason if state.last_response else None
