"""Derive a conversation's state (history, pending calls, customer) from its events."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, assert_never

from agent.digest import canonical_json
from agent.model.client import Block, ChatMessage, ToolUse, Usage
from agent.model.context import estimate_chars, message_chars
from agent.transcript.events import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
    ConfirmationUnclear,
    CustomerVerified,
    ErrorOccurred,
    GateDecided,
    ModelRequested,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    ValidationFailed,
)


def _message_bytes(message: ChatMessage | dict[str, Any]) -> bytes:
    dumped = message if isinstance(message, dict) else message.model_dump()
    return canonical_json(dumped) + b"\n"


def result_block(result: ToolResulted) -> Block:
    """The tool_result content block for the API."""
    block: Block = {
        "type": "tool_result",
        "tool_use_id": result.tool_use_id,
        "content": result.content,
    }
    if result.is_error:
        block["is_error"] = True
    return block


@dataclass
class ConversationState:
    """Everything the loop and gate need, rebuilt from the event log alone."""

    messages: list[ChatMessage] = field(default_factory=list)
    open_tool_uses: list[Block] = field(default_factory=list)
    results: dict[str, ToolResulted] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    customer_id: str | None = None
    last_seq: int = 0
    tool_calls: int = 0
    invalid_streak: dict[str, int] = field(default_factory=dict)
    called: set[str] = field(default_factory=set)  # tool_use ids of the last reply seen
    ran: dict[str, ToolResulted] = field(default_factory=dict)  # every executed call, by id
    customer_texts: list[str] = field(default_factory=list)  # all the customer wrote
    decisions: dict[str, GateDecided] = field(default_factory=dict)
    confirmation_asked: dict[str, ConfirmationRequested] = field(default_factory=dict)
    confirmations: dict[str, ConfirmationGiven | ConfirmationDeclined] = field(default_factory=dict)
    unclear_answers: dict[str, ConfirmationUnclear] = field(default_factory=dict)
    approval_asked: dict[str, ApprovalRequested] = field(default_factory=dict)
    approvals: dict[str, ApprovalDecided] = field(default_factory=dict)
    handed_off: bool = False
    last_response: ModelResponded | None = None
    usage: Usage = field(default_factory=Usage)
    finished: RunFinished | None = None
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)
    _chars: int = field(default=0, repr=False)  # message_chars of `messages`, summed

    @property
    def pending(self) -> list[ToolUse]:
        """tool_use blocks of the last assistant message that have no result yet, in order."""
        return [ToolUse.of(b) for b in self.open_tool_uses if b.get("id") not in self.results]

    def next_user_content(self) -> list[Block]:
        """The user turn to send next: tool results first (API order), then customer text."""
        content = [
            result_block(self.results[b["id"]])
            for b in self.open_tool_uses
            if b["id"] in self.results
        ]
        content += [{"type": "text", "text": t} for t in self.texts]
        return content

    def add_message(self, message: ChatMessage) -> None:
        """Append to the history, to its running hash and to its running size."""
        self.messages.append(message)
        dumped = message.model_dump()  # once for both
        self._digest.update(_message_bytes(dumped))
        self._chars += message_chars(dumped)

    def messages_estimate(self) -> int:
        """estimate(request_messages()), from the running size: only the tail is measured."""
        tail = self._tail()
        if tail is None:
            return estimate_chars(self._chars, len(self.messages))
        return estimate_chars(self._chars + message_chars(tail), len(self.messages) + 1)

    def messages_sha256(self) -> str:
        """SHA-256 over request_messages(), chained so each call costs only the new tail."""
        digest = self._digest.copy()
        tail = self._tail()
        if tail is not None:
            digest.update(_message_bytes(tail))
        return str(digest.hexdigest())

    def request_messages(self) -> list[ChatMessage]:
        """The `messages` list for the next model request."""
        tail = self._tail()
        return self.messages + ([tail] if tail is not None else [])

    def _tail(self) -> ChatMessage | None:
        """The user message the next request ends with, if anything waits to be sent."""
        content = self.next_user_content()
        return ChatMessage(role="user", content=content) if content else None


def apply_event(state: ConversationState, ev: AnyEvent) -> None:  # noqa: C901 - one arm per type
    """Fold one event into the state (the only place events change state)."""
    match ev:
        case UserMessage(text=text):
            state.texts.append(text)
            state.customer_texts.append(text)
        case CustomerVerified(customer_id=customer_id):
            state.customer_id = customer_id
        case ModelResponded(message=message):
            tail = state.next_user_content()
            if tail:
                state.add_message(ChatMessage(role="user", content=tail))
            state.add_message(ChatMessage(role="assistant", content=message.content))
            state.open_tool_uses = message.blocks_of("tool_use")
            state.results, state.texts, state.called = {}, [], set()
            state.last_response = ev
            state.usage = state.usage + ev.usage
            state.finished = None
        case ToolCalled(tool_use_id=tid):
            if tid not in state.called:
                state.called.add(tid)
                state.tool_calls += 1
        case ValidationFailed(name=name):
            state.invalid_streak[name] = state.invalid_streak.get(name, 0) + 1
        case ToolResulted():
            state.results[ev.tool_use_id] = ev
            if ev.executed:
                state.ran.setdefault(ev.tool_use_id, ev)
            if ev.customer_id and state.customer_id is None:
                state.customer_id = ev.customer_id
            if ev.ends_conversation:
                state.handed_off = True
            if not ev.is_error or ev.executed:
                state.invalid_streak[ev.name] = 0
        case GateDecided():
            state.decisions[ev.tool_use_id] = ev
        case ConfirmationRequested():
            state.confirmation_asked[ev.tool_use_id] = ev
        case ConfirmationGiven() | ConfirmationDeclined():
            state.confirmations[ev.tool_use_id] = ev
        case ConfirmationUnclear():
            state.unclear_answers[ev.tool_use_id] = ev  # still asked, not answered
        case ApprovalRequested():
            state.approval_asked[ev.tool_use_id] = ev
        case ApprovalDecided():
            state.approvals[ev.tool_use_id] = ev
        case RunFinished():
            state.finished = ev
        case ModelRequested() | ErrorOccurred():
            pass  # recorded for audit and replay; they change nothing the loop reads
        case _:
            assert_never(ev)


def fold(state: ConversationState, stored: StoredEvent) -> None:
    """Fold one stored event and remember its sequence number."""
    apply_event(state, stored.event)
    state.last_seq = stored.seq


def derive(events: list[StoredEvent]) -> ConversationState:
    """Fold the event log into a ConversationState."""
    state = ConversationState()
    for stored in events:
        fold(state, stored)
    return state
