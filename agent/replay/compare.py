"""Compare a replay with its recording: normalised event views, requests, readable diffs."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.model.client import ChatMessage, ModelRequest
from agent.transcript.events import ModelRequested, StoredEvent
from agent.transcript.state import ConversationState
from agent.transcript.state import apply_event as fold_event

DivergenceKind = Literal["request", "event", "missing", "extra"]

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
APPROVAL_ID = re.compile(r"\bapr_[0-9a-f]{12}\b")
ID_KEYS = frozenset({"tool_use_id"})
NOTHING = "(no such event)"

# Per event type, the fields that matter; model requests are compared separately
# (whole request) and model responses are served from the recording.
FIELDS: dict[str, tuple[str, ...]] = {
    "user_message": ("text",),
    "model_request": (),
    "model_response": (),
    "tool_call": ("tool_use_id", "name", "input"),
    "validation_error": ("tool_use_id", "name", "errors"),
    "gate_decision": ("tool_use_id", "name", "verdict", "rules", "role"),
    "confirmation_requested": ("tool_use_id", "summary"),
    "confirmation_given": ("tool_use_id", "text"),
    "confirmation_declined": ("tool_use_id", "text"),
    "confirmation_unclear": ("tool_use_id", "text"),
    "approval_requested": ("tool_use_id", "role", "summary", "reasons"),
    "approval_decided": ("tool_use_id", "approved", "by", "role", "reason"),
    "tool_result": (
        "tool_use_id",
        "name",
        "content",
        "is_error",
        "executed",
        "customer_id",
        "ends_conversation",
    ),
    "error": ("kind", "message"),
    "run_finished": ("status", "reason", "reply"),
}


def view(stored: StoredEvent) -> dict[str, Any]:
    """The part of an event a replay must reproduce."""
    data = stored.event.model_dump(mode="json")
    kind = str(data["type"])
    names = FIELDS.get(kind)
    if names is None:  # an event type this module does not know yet: compare it whole
        return data
    return {"type": kind, **{name: data.get(name) for name in names}}


@dataclass
class Aliases:
    """Stable stand-ins for volatile ids, numbered in order of first appearance."""

    seen: dict[str, str] = field(default_factory=dict)

    def of(self, value: str, prefix: str) -> str:
        """The alias of one id."""
        if value not in self.seen:
            self.seen[value] = f"<{prefix}{len(self.seen) + 1}>"
        return self.seen[value]


def normalise(value: Any, aliases: Aliases | None = None) -> Any:
    """A copy without volatile parts: tool_use ids, approval ids, timestamps."""
    aliases = aliases if aliases is not None else Aliases()
    if isinstance(value, dict):
        is_call = value.get("type") in ("tool_use", "server_tool_use")
        return {
            k: aliases.of(v, "toolu")
            if isinstance(v, str) and (k in ID_KEYS or (is_call and k == "id"))
            else normalise(v, aliases)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v, aliases) for v in value]
    if isinstance(value, str):
        value = APPROVAL_ID.sub("apr_<id>", value)
        return TIMESTAMP.sub("<time>", value)
    return value


def same(recorded: Any, now: Any) -> bool:
    """Equal, or equal once volatile parts are normalised."""
    return bool(recorded == now or normalise(recorded) == normalise(now))


def _readable(value: Any) -> Any:
    """Expand JSON held in strings (tool results) so a diff shows it line by line."""
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return {"<json>": _readable(json.loads(value))}
        except ValueError:
            return value
    return value


def pretty(value: Any) -> str:
    """Indented JSON for a diff."""
    if isinstance(value, str):
        return value
    return json.dumps(_readable(value), indent=2, sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Divergence:
    """The first place where the replay differs from the recording."""

    step: int
    kind: DivergenceKind
    seq: int | None
    event_type: str
    message: str
    recorded: str
    now: str

    def diff(self) -> str:
        """A unified diff, recorded vs now."""
        lines = difflib.unified_diff(
            self.recorded.split("\n"),
            self.now.split("\n"),
            fromfile="recorded",
            tofile="now",
            lineterm="",
            n=3,
        )
        return "\n".join(lines)

    def where(self) -> str:
        """Step and recorded event, in words."""
        event = f"recorded event #{self.seq} ({self.event_type})" if self.seq else self.event_type
        return f"step {self.step}, {event}"

    def render(self) -> str:
        """The headline, then the diff."""
        return f"diverged at {self.where()}: {self.message}\n{self.diff()}"


def _message_dump(messages: list[ChatMessage], start: int) -> list[dict[str, Any]]:
    return [m.model_dump() for m in messages[start:]]


@dataclass
class Comparator:
    """Walks the recorded events alongside the replay; linear in the transcript's length."""

    recorded: list[StoredEvent]
    position: int = 0
    state: ConversationState = field(default_factory=ConversationState)
    checked_messages: int = 0
    compared: int = 0

    def events(self, end: int, now: list[StoredEvent], step: int) -> Divergence | None:
        """Compare recorded[position:end] with the replay's events, pairwise, in order."""
        span = self.recorded[self.position : end]
        for index in range(max(len(span), len(now))):
            rec = span[index] if index < len(span) else None
            new = now[index] if index < len(now) else None
            if rec is None:
                assert new is not None
                return Divergence(
                    step, "extra", None, new.event.type, "the replay has an event the "
                    "recording does not", NOTHING, pretty(view(new))
                )  # fmt: skip
            if new is None:
                return Divergence(
                    step, "missing", rec.seq, rec.event.type, "the recording has an event "
                    "the replay does not", pretty(view(rec)), NOTHING
                )  # fmt: skip
            recorded_view, now_view = view(rec), view(new)
            if not same(recorded_view, now_view):
                return Divergence(
                    step, "event", rec.seq, rec.event.type, f"the {rec.event.type} differs",
                    pretty(recorded_view), pretty(now_view)
                )  # fmt: skip
            fold_event(self.state, rec.event)
            self.compared += 1
        self.position = max(self.position, end)
        return None

    def request(
        self, index: int, request: ModelRequest, sent: ModelRequested, step: int
    ) -> Divergence | None:
        """Compare the request the loop sends now with the one rebuilt from the recording."""
        stored = self.recorded[index]
        assert isinstance(stored.event, ModelRequested)
        recorded_messages = self.state.request_messages()
        head_recorded = _head(stored.event, len(recorded_messages))
        head_now = _head(sent, len(request.messages))
        first = self._first_difference(recorded_messages, request.messages)
        self.position = index + 1
        self.compared += 1
        if first is None and head_recorded == head_now:
            self.checked_messages = max(0, min(len(recorded_messages), len(request.messages)) - 1)
            return None
        start = self.checked_messages if first is None else first
        label = f"messages from #{start}"
        recorded = {**head_recorded, label: _message_dump(recorded_messages, start)}
        now = {**head_now, label: _message_dump(request.messages, start)}
        return Divergence(
            step,
            "request",
            stored.seq,
            "model_request",
            _request_problem(head_recorded, head_now, first),
            pretty(normalise(recorded)),
            pretty(normalise(now)),
        )

    def _first_difference(self, recorded: list[ChatMessage], now: list[ChatMessage]) -> int | None:
        for i in range(self.checked_messages, max(len(recorded), len(now))):
            if i >= len(recorded) or i >= len(now):
                return i
            a, b = recorded[i], now[i]
            if a != b and not same(a.model_dump(), b.model_dump()):
                return i
        return None


def _head(event: ModelRequested, count: int) -> dict[str, Any]:
    return {
        "model": event.model,
        "max_tokens": event.max_tokens,
        "system_sha256": event.system_sha256,
        "tools_sha256": event.tools_sha256,
        "message_count": count,
    }


def _request_problem(recorded: dict[str, Any], now: dict[str, Any], first: int | None) -> str:
    problems = []
    if recorded["system_sha256"] != now["system_sha256"]:
        problems.append("the system prompt differs")
    if recorded["tools_sha256"] != now["tools_sha256"]:
        problems.append(
            "the tool definitions differ (names, descriptions or input schemas; "
            "the transcript keeps only their hash)"
        )
    if (recorded["model"], recorded["max_tokens"]) != (now["model"], now["max_tokens"]):
        problems.append("the model settings differ")
    if first is not None:
        problems.append(f"the messages differ from message #{first}")
    return "the request to the model differs: " + "; ".join(problems)
