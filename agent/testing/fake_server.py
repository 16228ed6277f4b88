"""A local fake of the Anthropic Messages API: scripted JSON and SSE replies over real HTTP.

The official SDK talks to it exactly as it talks to the real API, so its retries,
error classes and stream assembly are exercised. Generic: no domain knowledge.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from agent.messages import Block, Usage

REDACTED = "REDACTED"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization"})
MESSAGES_PATH = "/v1/messages"
REQUIRED_FIELDS = ("model", "max_tokens", "messages")


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
    event after `stream_error_after` events.
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


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (timeouts, cut streams) are expected here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeMessagesAPI:
    """A Messages API on 127.0.0.1 answering from a queue of scripted replies and faults."""

    def __init__(self, replies: Iterable[Reply | Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply | Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self.add(*replies)

    def add(self, *items: Reply | Fault) -> None:
        """Queue replies (their faults first) or bare faults, answered in order."""
        with self._lock:
            for item in items:
                if isinstance(item, Reply):
                    self._queue.extend(item.faults)
                self._queue.append(item)

    @property
    def pending(self) -> int:
        """How many scripted answers are still queued."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def base_url(self) -> str:
        """The URL to pass as the SDK's base_url."""
        if self._server is None:
            raise RuntimeError(
                "FakeMessagesAPI is not started; call start() or use it as a context"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeMessagesAPI:
        """Listen on an ephemeral port and serve from a background thread."""
        if self._server is None:
            self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},  # how long stop() waits for the loop
                name="fake-messages-api",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> FakeMessagesAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_request_id(self) -> str:
        with self._lock:
            return f"req_fake_{next(self._ids):06d}"

    def _pop(self) -> Reply | Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _record(
        self, handler: BaseHTTPRequestHandler, body: Any, request_id: str, answer: str
    ) -> None:
        headers = {
            k.lower(): (REDACTED if k.lower() in SECRET_HEADERS else v)
            for k, v in handler.headers.items()
        }
        recorded = RecordedRequest(handler.command, handler.path, headers, body, request_id, answer)
        with self._lock:
            self._requests.append(recorded)


def _handler_for(api: FakeMessagesAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(_MessagesHandler):
        fake = api

    return Handler


class _MessagesHandler(BaseHTTPRequestHandler):
    fake: FakeMessagesAPI
    server_version = "FakeMessagesAPI/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Nothing but POST /v1/messages exists here."""
        self._not_found(None, self.fake._next_request_id())

    def do_POST(self) -> None:
        """Answer one Messages API call from the queue."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        request_id = self.fake._next_request_id()
        routed = self.path.split("?")[0] == MESSAGES_PATH  # a query string is tolerated
        problem = _invalid(body)
        item = self.fake._pop() if routed and problem is None else None
        if not routed:
            self._not_found(body, request_id)
        elif problem is not None:
            self._answer_fault(body, request_id, bad_request(problem), "invalid request")
        elif item is None:
            message = (
                f"fake Messages API: no scripted reply left for request {request_id} "
                f"(POST {MESSAGES_PATH}); queue replies with FakeMessagesAPI.add()"
            )
            fault = Fault(500, "api_error", message, {"x-should-retry": "false"})
            self._answer_fault(body, request_id, fault, "empty queue")
        elif isinstance(item, Fault):
            self._answer_fault(body, request_id, item, f"fault {item.status}")
        else:
            time.sleep(item.delay_seconds)
            model = item.model or str(body.get("model", ""))
            message_id = item.id or f"msg_fake_{request_id.removeprefix('req_fake_')}"
            if body.get("stream"):
                self.fake._record(self, body, request_id, "stream")
                self._stream(item, model, message_id, request_id)
            else:
                self.fake._record(self, body, request_id, "json")
                payload = message_json(item, model=model, message_id=message_id)
                self._send_json(200, payload, request_id, {})

    def _not_found(self, body: Any, request_id: str) -> None:
        fault = Fault(
            404, "not_found_error", f"fake Messages API: no route {self.command} {self.path}"
        )
        self._answer_fault(body, request_id, fault, "not found")

    def _answer_fault(self, body: Any, request_id: str, fault: Fault, answer: str) -> None:
        self.fake._record(self, body, request_id, answer)
        self._send_json(fault.status, fault.body(), request_id, fault.headers)

    def _send_json(
        self, status: int, payload: Any, request_id: str, headers: dict[str, str]
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply, model: str, message_id: str, request_id: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", request_id)
        self.end_headers()
        events = stream_events(reply, model=model, message_id=message_id)
        if reply.stream_error is not None:
            events = [*events[: reply.stream_error_after], reply.stream_error.body()]
        if reply.cut_after_events is not None:
            events = events[: reply.cut_after_events]
        for event in events:
            name = event["type"]
            self.wfile.write(f"event: {name}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "fake Messages API: request body must be a JSON object"
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    return f"{missing[0]}: Field required" if missing else None
