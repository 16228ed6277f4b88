"""A local fake of the Anthropic Messages API: scripted JSON and SSE replies over real HTTP.

The official SDK talks to it exactly as it talks to the real API, so its retries,
error classes and stream assembly are exercised. Generic: no domain knowledge.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
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
from agent.testing.fake_limits import ServerRateLimit
from agent.testing.prompt_cache import PromptCache, estimate_tokens
from agent.testing.wire import (
    Fault,
    RecordedRequest,
    Reply,
    bad_request,
    malformed_events,
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
    "ServerRateLimit",
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
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
VERTEX_PATH = re.compile(
    r"^/v1/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?:stream)?[rR]awPredict$"
)
REQUIRED_FIELDS = ("model", "max_tokens", "messages")
Responder = Callable[[dict[str, Any]], Reply | None]
RouteHandler = Callable[["_MessagesHandler", Any, str], None]
"""Answers one routed POST: (handler, parsed body, request id)."""


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
        rate_limit: ServerRateLimit | None = None,
        responder: Responder | None = None,
        latency_seconds: float = 0.0,
        batches: FakeBatches | None = None,
    ) -> None:
        """`prompt_cache` computes cache usage; `rate_limit` enforces limits with 429s;
        `responder` answers when the queue is empty; `latency_seconds` delays every reply;
        `batches` serves the Message Batches endpoints (agent.testing.fake_batches)."""
        self.batches = batches
        self.prompt_cache = prompt_cache
        self.rate_limit = rate_limit
        self.responder = responder
        self.latency_seconds = latency_seconds
        self.routes: list[tuple[str, re.Pattern[str], RouteHandler]] = [
            ("POST", re.compile(re.escape(COUNT_TOKENS_PATH) + "$"), _count_tokens),
            ("POST", re.compile(re.escape(MESSAGES_PATH) + "$"), _messages),
            ("POST", VERTEX_PATH, _vertex_messages),
        ]
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

    def start(self, port: int = 0) -> FakeMessagesAPI:
        """Listen on 127.0.0.1 (an ephemeral port by default) and serve from a thread."""
        if self._server is None:
            self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
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

    def add_route(self, method: str, path_pattern: str, handler: RouteHandler) -> None:
        """Answer `method` on paths matching the regex with `handler` (checked first)."""
        self.routes.insert(0, (method, re.compile(path_pattern), handler))

    def _limit(self, body: dict[str, Any]) -> tuple[Fault | None, dict[str, str]]:
        """A 429 when this request does not fit the rate limit; the headers to send anyway."""
        if self.rate_limit is None:
            return None, {}
        parts = {k: body.get(k) for k in ("system", "tools", "messages")}
        wait, headers = self.rate_limit.admit(estimate_tokens(parts))
        if wait is None:
            return None, headers
        return dataclasses.replace(rate_limited(None), headers=headers), headers

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

    def _pop(self, body: dict[str, Any]) -> Reply | Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body) if self.responder is not None else None

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
        """Route one POST by path: messages, count_tokens, Vertex, or an added route."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        if self.fake.batches is not None and self.fake.batches.handles(self.path):
            self.fake.batches.answer(self.fake, self, body)
            return
        request_id = self.fake._next_request_id()
        path = self.path.split("?")[0]  # a query string is tolerated
        for method, pattern, route in self.fake.routes:
            if method == "POST" and pattern.match(path):
                route(self, body, request_id)
                return
        self._not_found(body, request_id)

    def answer_message(self, body: Any, request_id: str) -> None:
        """Answer a Messages API call: validate, rate-limit, then the next scripted answer."""
        problem = _invalid(body)
        if problem is not None:
            self._answer_fault(body, request_id, bad_request(problem), "invalid request")
            return
        limited, limit_headers = self.fake._limit(body)
        if limited is not None:
            self._answer_fault(body, request_id, limited, "rate limited")
            return
        item = self.fake._pop(body)
        if item is None:
            message = (
                f"fake Messages API: no scripted reply left for request {request_id} "
                f"(POST {MESSAGES_PATH}); queue replies with FakeMessagesAPI.add()"
            )
            fault = Fault(500, "api_error", message, {"x-should-retry": "false"})
            self._answer_fault(body, request_id, fault, "empty queue")
        elif isinstance(item, Fault):
            self._answer_fault(body, request_id, item, f"fault {item.status}")
        else:
            time.sleep(item.delay_seconds + self.fake.latency_seconds)
            item = self.fake._with_cache_usage(item, body)
            model = item.model or str(body.get("model", ""))
            message_id = item.id or f"msg_fake_{request_id.removeprefix('req_fake_')}"
            if body.get("stream"):
                self.fake._record(self, body, request_id, "stream")
                self._stream(item, model, message_id, request_id, limit_headers)
            else:
                self.fake._record(self, body, request_id, "json")
                payload = message_json(item, model=model, message_id=message_id)
                self._send_json(200, payload, request_id, limit_headers)

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

    def _stream(
        self,
        reply: Reply,
        model: str,
        message_id: str,
        request_id: str,
        headers: dict[str, str],
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", request_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        events: list[Any] = stream_events(reply, model=model, message_id=message_id)
        if reply.malformed is not None:
            events = malformed_events(events, reply.malformed)
        if reply.stream_error is not None:
            events = [*events[: reply.stream_error_after], reply.stream_error.body()]
        if reply.cut_after_events is not None:
            events = events[: reply.cut_after_events]
        for number, event in enumerate(events):
            if reply.stall_seconds and number == reply.stall_after_events:
                time.sleep(reply.stall_seconds)
            if isinstance(event, str):
                line = f"event: content_block_delta\ndata: {event}\n\n"
            else:
                line = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
            self.wfile.write(line.encode())
            self.wfile.flush()

    def count_tokens(self, body: Any, request_id: str) -> None:
        """POST /v1/messages/count_tokens: the same four-characters-a-token estimate."""
        if not isinstance(body, dict) or "messages" not in body:
            fault = bad_request("messages: Field required")
            self._answer_fault(body, request_id, fault, "invalid request")
            return
        parts = {k: body.get(k) for k in ("system", "tools", "messages")}
        self.fake._record(self, body, request_id, "count_tokens")
        self._send_json(200, {"input_tokens": estimate_tokens(parts)}, request_id, {})


def _messages(handler: _MessagesHandler, body: Any, request_id: str) -> None:
    handler.answer_message(body, request_id)


def _count_tokens(handler: _MessagesHandler, body: Any, request_id: str) -> None:
    handler.count_tokens(body, request_id)


def _vertex_messages(handler: _MessagesHandler, body: Any, request_id: str) -> None:
    """Vertex AI names the model in the path and the API version in the body."""
    match = VERTEX_PATH.match(handler.path.split("?")[0])
    if isinstance(body, dict) and match is not None:
        body = {**body, "model": match.group("model")}
    handler.answer_message(body, request_id)


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "fake Messages API: request body must be a JSON object"
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    return f"{missing[0]}: Field required" if missing else None
