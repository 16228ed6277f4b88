"""What a replay serves back from the recording: model replies, decisions, clock, segments."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.clock import utcnow
from agent.gate.approvals import (
    DECIDED_LATE,
    WRONG_ARGUMENTS,
    WRONG_REQUEST,
    ApprovalDecision,
    ApprovalRequest,
)
from agent.model.client import ModelError, ModelRequest, ModelResponse, as_kind
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ErrorOccurred,
    ModelResponded,
    StoredEvent,
)


class ReplayExhausted(ModelError):
    """The loop asked for more model replies than the recording holds."""


@dataclass(frozen=True)
class CallTiming:
    """When one model call was made, when its reply started being served, when it returned."""

    called: float
    served: float
    returned: float


Reply = ModelResponded | ErrorOccurred | None


def recorded_replies(events: list[StoredEvent]) -> list[Reply]:
    """For each recorded model request, in order: its reply, the API error, or None (none kept)."""
    replies: list[Reply] = []
    for index, stored in enumerate(events):
        if stored.event.type != "model_request":
            continue
        after = events[index + 1].event if index + 1 < len(events) else None
        replies.append(after if isinstance(after, ModelResponded | ErrorOccurred) else None)
    return replies


@dataclass
class ReplayModel:
    """A ModelClient serving recorded replies in order; `check` sees each request first."""

    replies: list[Reply]
    check: Callable[[ModelRequest, int], None] | None = None
    position: int = 0
    timings: list[CallTiming] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: list[StoredEvent]) -> ReplayModel:
        """A ReplayModel for a recorded conversation."""
        return cls(recorded_replies(events))

    def respond(self, request: ModelRequest) -> ModelResponse:
        """The next recorded reply (or the recorded API error, raised again)."""
        called = time.perf_counter()
        self.position += 1
        if self.check is not None:
            self.check(request, self.position)
        served = time.perf_counter()
        try:
            return self._serve()
        finally:
            self.timings.append(CallTiming(called, served, time.perf_counter()))

    def _serve(self) -> ModelResponse:
        if self.position > len(self.replies):
            raise ReplayExhausted(
                f"the recording has only {len(self.replies)} model replies", kind="bad_request"
            )
        reply = self.replies[self.position - 1]
        if reply is None:
            raise ReplayExhausted("the recording has no reply to this request", kind="bad_request")
        if isinstance(reply, ErrorOccurred):
            raise ModelError(reply.message, kind=as_kind(reply.kind))
        return ModelResponse(
            message=reply.message,
            request_id=reply.request_id,
            latency_ms=reply.latency_ms,
            retries=reply.retries,
        )


@dataclass
class ReplayClock:
    """The gate's clock: now, shifted like the recording's clock was (approval expiry)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# check_decision's wording for failures a replay reproduces by shaping the decision.


@dataclass
class ReplayApprover:
    """Re-applies recorded supervisor decisions, each from the run/resume it was recorded in."""

    clock: Callable[[], datetime]
    decisions: dict[str, list[tuple[int, ApprovalDecided]]] = field(default_factory=dict)
    segment: int = 0

    def add(self, segment: int, decided: ApprovalDecided) -> None:
        """A recorded decision; decisions the gate made itself (expiry) are not re-applied."""
        if decided.by != "system":
            self.decisions.setdefault(decided.tool_use_id, []).append((segment, decided))

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The recorded decision for this call, once the replay reaches its turn; else later."""
        queue = self.decisions.get(request.tool_use_id, [])
        if not queue or queue[0][0] > self.segment:
            return None
        recorded = queue.pop(0)[1]
        decision = ApprovalDecision(
            request_id=request.request_id,
            args_hash=request.args_hash,
            approved=recorded.approved,
            by=recorded.by,
            role=recorded.role,
            reason=recorded.reason,
            decided_at=self.clock(),
        )
        if recorded.reason == WRONG_ARGUMENTS:
            decision.args_hash = f"other-than-{request.args_hash}"
        elif recorded.reason == WRONG_REQUEST:
            decision.request_id = f"other-than-{request.request_id}"
        elif recorded.reason.endswith(DECIDED_LATE):
            decision.decided_at = request.expires_at + timedelta(seconds=1)
        return decision


@dataclass(frozen=True)
class Segment:
    """One recorded call of Agent.run (it starts with the customer's message) or Agent.resume."""

    index: int
    start: int
    end: int
    text: str | None


def split_segments(events: list[StoredEvent]) -> list[Segment]:
    """The recorded events cut into run/resume calls, each ending with its run_finished."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for index, stored in enumerate(events):
        if stored.event.type == "run_finished":
            bounds.append((start, index + 1))
            start = index + 1
    if start < len(events):
        bounds.append((start, len(events)))
    segments = []
    for number, (first, end) in enumerate(bounds):
        opening = events[first].event
        text = opening.text if opening.type == "user_message" else None
        segments.append(Segment(number, first, end, text))
    return segments


def clock_offset(
    events: list[StoredEvent], segment: Segment, approval_hours: float
) -> timedelta | None:
    """How far the recording's gate clock was ahead of real time in this segment, if known."""
    for stored in events[segment.start : segment.end]:
        ev = stored.event
        if isinstance(ev, ApprovalRequested):
            issued = _aware(ev.expires_at) - timedelta(hours=approval_hours)
            return issued - _aware(stored.at)
        if isinstance(ev, ApprovalDecided):
            return _aware(ev.decided_at) - _aware(stored.at)
    return None
