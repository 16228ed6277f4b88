"""A local fake of the Anthropic Messages API: scripted JSON and SSE replies over real HTTP.

The official SDK talks to it exactly as it talks to the real API, so its retries,
error classes and stream assembly are exercised. Generic: no domain knowledge.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from agent.model.client import Usage
from agent.testing.fake_batches import FakeBatches
from agent.testing.prompt_cache import PromptCache
from agent.testing.wire import (
    Fault,
    RecordedRequest,
    Reply,
    bad_request,
    message_json,
    overloaded,
    prompt_too_long,
    rate_limited,
    server_error,
    stream_events,
    text_reply,
    tool_reply,
)

__all__ = [
    "FakeMessagesAPI",
    "Fault",
    "PromptCache",
    "RecordedRequest",
    "Reply",
    "bad_request",
    "message_json",
    "overloaded",
    "prompt_too_long",
    "rate_limited",
    "server_error",
    "stream_events",
    "text_reply",
    "tool_reply",
]

REDACTED = "REDACTED"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization"})
MESSAGES_PATH = "/v1/messages"
REQUIRED_FIELDS = ("model", "max_tokens", "messages")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (timeouts, cut streams) are expected here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeMessagesAPI:
    """A Messages API on 127.0.0.1 answering from a queue of scripted replies and faults."""

    def __init__(
        self,
        replies: Iterable[Reply | Fault] = (),
        *,
        prompt_cache: PromptCache | None = None,
        requests_per_window: int | None = None,
        window_seconds: float = 60.0,
        responder: Callable[[dict[str, Any]], Reply | None] | None = None,
        batches: FakeBatches | None = None,
    ) -> None:
        """`prompt_cache` computes cache token usage; `requests_per_window` emulates 429s.

        `responder` answers when the queue is empty (e.g. ForcedToolResponder);
        `batches` serves the Message Batches endpoints (agent.testing.fake_batches).
        """
        self.responder = responder
        self.batches = batches
        self.prompt_cache = prompt_cache
        self.requests_per_window = requests_per_window
        self.window_seconds = window_seconds
        self._accepted: deque[float] = deque()
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

    def _rate_limit(self) -> Fault | None:
        """A 429 with retry-after-ms when this request would exceed the emulated limit."""
        if self.requests_per_window is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._accepted and now - self._accepted[0] >= self.window_seconds:
                self._accepted.popleft()
            if len(self._accepted) >= self.requests_per_window:
                wait = self.window_seconds - (now - self._accepted[0])
                fault = rate_limited(retry_after_ms=max(1, math.ceil(wait * 1000)))
                fault.headers["anthropic-ratelimit-requests-remaining"] = "0"
                return fault
            self._accepted.append(now)
        return None

    def _with_cache_usage(self, reply: Reply, body: dict[str, Any]) -> Reply:
        """The reply with input tokens split as the prompt cache would split them."""
        if self.prompt_cache is None:
            return reply
        split = self.prompt_cache.account(body)
        usage = Usage(
            input_tokens=split.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cache_creation_input_tokens=split.cache_creation_input_tokens,
            cache_read_input_tokens=split.cache_read_input_tokens,
        )
        return dataclasses.replace(reply, usage=usage)

    def _pop(self) -> Reply | Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _answer(self, body: dict[str, Any]) -> Reply | Fault | None:
        """The next scripted answer, else the responder's."""
        item = self._pop()
        return item if item is not None or self.responder is None else self.responder(body)

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
        """Only the batch endpoints answer GET."""
        if self.fake.batches is not None and self.fake.batches.handles(self.path):
            self.fake.batches.answer(self.fake, self, None)
            return
        self._not_found(None, self.fake._next_request_id())

    def do_POST(self) -> None:
        """Answer one Messages API call from the queue."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        if self.fake.batches is not None and self.fake.batches.handles(self.path):
            self.fake.batches.answer(self.fake, self, body)
            return
        request_id = self.fake._next_request_id()
        routed = self.path.split("?")[0] == MESSAGES_PATH  # a query string is tolerated
        problem = _invalid(body)
        limited = self.fake._rate_limit() if routed and problem is None else None
        item = self.fake._answer(body) if routed and problem is None and limited is None else None
        if limited is not None:
            self._answer_fault(body, request_id, limited, "rate limited")
        elif not routed:
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
            item = self.fake._with_cache_usage(item, body)
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
