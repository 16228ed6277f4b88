"""The Messages API wire format for the fake server: replies, faults, JSON and SSE events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.model.client import Block, Usage


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer in the API's shape, served before a reply (or mid-stream)."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The API's error JSON: {"type": "error", "error": {"type", "message"}}."""
        return {"type": "error", "error": {"type": self.error_type, "message": self.message}}


def rate_limited(retry_after_ms: int | None = 10, retry_after: str | None = None) -> Fault:
    """A 429 rate_limit_error with `retry-after-ms` and/or `retry-after` headers."""
    headers: dict[str, str] = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Fault(
        429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", headers
    )


def overloaded(retry_after_ms: int = 10) -> Fault:
    """A 529 overloaded_error."""
    return Fault(529, "overloaded_error", "Overloaded", {"retry-after-ms": str(retry_after_ms)})


def server_error(status: int = 500, retry_after_ms: int = 10) -> Fault:
    """A 5xx api_error."""
    headers = {"retry-after-ms": str(retry_after_ms)}
    return Fault(status, "api_error", "Internal server error", headers)


def bad_request(message: str) -> Fault:
    """A 400 invalid_request_error with the given message."""
    return Fault(400, "invalid_request_error", message)


def prompt_too_long(tokens: int = 212_345, limit: int = 200_000) -> Fault:
    """The 400 the API returns when the prompt exceeds the context window."""
    return bad_request(f"prompt is too long: {tokens} tokens > {limit} maximum")


@dataclass
class Reply:
    """One scripted assistant message plus how to deliver it.

    `faults` are answered first, one per request (the SDK retries through them).
    `cut_after_events` ends the SSE body cleanly after that many events (pings
    included) without `message_stop`. `stream_error` is sent as an SSE `error`
    event after `stream_error_after` events. `stall_seconds` pauses the stream for
    that long after `stall_after_events` events. `malformed` corrupts the stream:
    tool-input JSON that does not parse, a delta for a block never started, or a
    data line that is not JSON.
    """

    content: list[Block]
    stop_reason: str | None = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=12, output_tokens=7))
    model: str | None = None
    id: str | None = None
    faults: list[Fault] = field(default_factory=list)
    cut_after_events: int | None = None
    stream_error: Fault | None = None
    stream_error_after: int = 2
    text_chunk_size: int = 8
    json_chunk_size: int = 16
    delay_seconds: float = 0.0
    stall_after_events: int = 3
    stall_seconds: float = 0.0
    malformed: Malformed | None = None


Malformed = Literal["tool_json", "orphan_delta", "non_json"]


def text_reply(text: str, **options: Any) -> Reply:
    """A reply with one text block (options as in Reply)."""
    return Reply(content=[{"type": "text", "text": text}], **options)


def tool_reply(
    name: str,
    input: dict[str, Any],
    *,
    id: str | None = None,
    text: str | None = None,
    **options: Any,
) -> Reply:
    """A reply asking for one tool call, optionally preceded by text."""
    block: Block = {
        "type": "tool_use",
        "id": id or f"toolu_fake_{uuid.uuid4().hex[:20]}",
        "name": name,
        "input": input,
    }
    content: list[Block] = [{"type": "text", "text": text}] if text else []
    options.setdefault("stop_reason", "tool_use")
    return Reply(content=[*content, block], **options)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it, with credentials redacted."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    request_id: str
    answer: str


def _chunks(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def message_json(reply: Reply, *, model: str, message_id: str) -> dict[str, Any]:
    """The non-streaming Message object for a reply."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage.model_dump(mode="json"),
    }


def _block_events(index: int, block: Block, reply: Reply) -> Iterator[dict[str, Any]]:
    kind = block.get("type")
    start: Block
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        start = {**block, "text": ""}
        deltas = [
            {"type": "text_delta", "text": t} for t in _chunks(block["text"], reply.text_chunk_size)
        ]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": t}
            for t in _chunks(block["thinking"], reply.text_chunk_size)
        ]
        deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
    elif kind in ("tool_use", "server_tool_use"):
        start = {**block, "input": {}}
        raw = json.dumps(block.get("input", {}))
        deltas = [
            {"type": "input_json_delta", "partial_json": p}
            for p in _chunks(raw, reply.json_chunk_size)
        ]
    else:
        start = block
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def stream_events(reply: Reply, *, model: str, message_id: str) -> list[dict[str, Any]]:
    """The full SSE event sequence for a reply, as the real API orders it."""
    usage = reply.usage.model_dump(mode="json")
    started = message_json(reply, model=model, message_id=message_id)
    started.update(content=[], stop_reason=None, stop_sequence=None)
    started["usage"] = {**usage, "output_tokens": min(1, reply.usage.output_tokens)}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": started}, {"type": "ping"}]
    for index, block in enumerate(reply.content):
        events.extend(_block_events(index, block, reply))
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def malformed_events(events: list[dict[str, Any]], kind: Malformed) -> list[Any]:
    """The event list corrupted as `kind` says, right after `message_start` and `ping`.

    A str item is sent as a raw `data:` line (not JSON); dicts are sent as events.
    """
    corrupt: Any
    if kind == "tool_json":
        start = {"type": "tool_use", "id": "toolu_bad", "name": "broken", "input": {}}
        bad = {"type": "input_json_delta", "partial_json": '{"order_id": }}'}
        corrupt = [  # index 0: the first block, so the SDK parses the JSON and fails
            {"type": "content_block_start", "index": 0, "content_block": start},
            {"type": "content_block_delta", "index": 0, "delta": bad},
        ]
    elif kind == "orphan_delta":
        delta = {"type": "text_delta", "text": "lost"}
        corrupt = [{"type": "content_block_delta", "index": 7, "delta": delta}]
    else:
        corrupt = ["this is not json {"]
    return [*events[:2], *corrupt, *events[2:]]
