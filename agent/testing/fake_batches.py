"""Message Batches for the fake API, and deterministic answers to forced tool calls.

`FakeBatches` serves create, retrieve, list, results (JSONL) and cancel under
/v1/messages/batches. A batch ends `processing_seconds` after it was created;
every `errored_every`-th request errors and every `expired_every`-th expires.
`ForcedToolResponder` answers a request whose `tool_choice` forces a tool with a
tool_use whose input fills that tool's JSON Schema from the last user text: the
same text always gives the same input. Generic: no domain knowledge here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from agent.model.client import Usage
from agent.testing.prompt_cache import estimate_tokens
from agent.testing.wire import Fault, Reply, bad_request, message_json, tool_reply

if TYPE_CHECKING:
    from agent.testing.fake_server import FakeMessagesAPI

BATCHES_PATH = "/v1/messages/batches"
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
WORD = re.compile(r"[A-Za-z0-9#@._'-]+")


def last_user_text(body: dict[str, Any]) -> str:
    """The text blocks of the last user message (a plain string counts as one block)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    return ""


@dataclass
class _Filler:
    """Fills a JSON Schema from text: strings are sentences of it, enums are words found in it."""

    text: str
    defs: dict[str, Any]
    rng: random.Random
    sentences: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = re.split(r"(?<=[.!?])\s+|\n+", self.text)
        self.sentences = [" ".join(p.split()) for p in parts if len(p.split()) >= 2] or [
            "(no text)"
        ]

    def value(self, schema: dict[str, Any]) -> Any:
        """A value that satisfies `schema` (the subset Pydantic generates)."""
        if "$ref" in schema:
            return self.value(self.defs[schema["$ref"].rsplit("/", 1)[-1]])
        if "enum" in schema or "const" in schema:
            return self.choose(schema.get("enum") or [schema.get("const")])
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.value(options[0])
        kind = schema.get("type", "string")
        if kind == "object":
            props = schema.get("properties", {})
            return {name: self.value(sub) for name, sub in props.items()}
        if kind == "array":
            count = max(schema.get("minItems", 1), min(schema.get("maxItems", 3), 1))
            return [self.value(schema.get("items", {})) for _ in range(count)]
        if kind == "integer":
            return int(schema.get("minimum", 0)) + self.rng.randint(0, 9)
        if kind == "number":
            return float(schema.get("minimum", 0)) + self.rng.random()
        if kind == "boolean":
            return self.rng.random() < 0.5
        return self.string(schema)

    def choose(self, options: list[Any]) -> Any:
        """The first option whose words appear in the text, else one picked by the text's hash."""
        lowered = self.text.lower()
        for option in options:
            words = str(option).lower().replace("_", " ").split()
            if words and all(w in lowered for w in words):
                return option
        return options[self.rng.randrange(len(options))]

    def string(self, schema: dict[str, Any]) -> str:
        """The next sentence of the text, cut to maxLength and padded to minLength."""
        sentence = self.sentences[self.rng.randrange(len(self.sentences))]
        self.sentences.append(self.sentences.pop(0))  # successive strings differ
        limit = int(schema.get("maxLength", 200))
        if len(sentence) > limit:
            sentence = sentence[: max(1, limit - 3)].rstrip() + "..."
        return sentence.ljust(int(schema.get("minLength", 0)), ".")


def fill_schema(schema: dict[str, Any], text: str) -> Any:
    """Deterministic input for a tool schema, derived from `text`."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return _Filler(text, schema.get("$defs", {}), random.Random(seed)).value(schema)


@dataclass
class ForcedToolResponder:
    """Answers forced tool calls from the request text, after a latency in [low, high] seconds."""

    latency: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __call__(self, body: dict[str, Any]) -> Reply | None:
        """A tool_use reply for a request with `tool_choice: {type: tool}`, else None."""
        choice = body.get("tool_choice") or {}
        if choice.get("type") != "tool":
            return None
        tool = next(
            (t for t in body.get("tools") or [] if t.get("name") == choice.get("name")), None
        )
        if tool is None:
            return None
        tool_input = fill_schema(tool.get("input_schema", {}), last_user_text(body))
        digest = hashlib.sha256(json.dumps(tool_input, sort_keys=True).encode()).hexdigest()
        with self._lock:
            delay = self._rng.uniform(*self.latency)
        usage = Usage(
            input_tokens=estimate_tokens({k: body.get(k) for k in ("system", "tools", "messages")}),
            output_tokens=estimate_tokens(tool_input) + 20,
        )
        return tool_reply(
            tool["name"],
            tool_input,
            id=f"toolu_fake_{digest[:20]}",
            usage=usage,
            delay_seconds=delay,
        )


@dataclass
class _Batch:
    id: str
    requests: list[dict[str, Any]]
    created: float
    created_at: datetime
    results: list[dict[str, Any]] | None = None
    cancel_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class FakeBatches:
    """The Message Batches endpoints of a FakeMessagesAPI (attach with `api.batches = ...`)."""

    processing_seconds: float = 0.5
    errored_every: int = 0
    expired_every: int = 0
    created: int = 0  # batches created so far: what a restarted client must not repeat
    _batches: dict[str, _Batch] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def handles(path: str) -> bool:
        """Whether a request path belongs to the batch endpoints."""
        return path.split("?")[0].startswith(BATCHES_PATH)

    def answer(self, api: FakeMessagesAPI, handler: BaseHTTPRequestHandler, body: Any) -> None:
        """Serve one batch request on `handler`."""
        request_id = api._next_request_id()
        parts = handler.path.split("?")[0].removeprefix(BATCHES_PATH).strip("/").split("/")
        status, payload, what = self._route(api, handler.command, [p for p in parts if p], body)
        api._record(handler, body, request_id, what)
        if isinstance(payload, Fault):
            status, data, kind = payload.status, json.dumps(payload.body()), "application/json"
        elif isinstance(payload, str):
            data, kind = payload, "application/binary"
        else:
            data, kind = json.dumps(payload), "application/json"
        raw = data.encode()
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(raw)))
        handler.send_header("request-id", request_id)
        handler.end_headers()
        handler.wfile.write(raw)

    def _route(
        self, api: FakeMessagesAPI, method: str, parts: list[str], body: Any
    ) -> tuple[int, dict[str, Any] | str | Fault, str]:
        if method == "POST" and not parts:
            return self._create(api, body)
        batch = self._batches.get(parts[0]) if parts else None
        if method == "GET" and not parts:
            listed = [self._view(api, b) for b in reversed(list(self._batches.values()))]
            first = listed[0]["id"] if listed else None
            last = listed[-1]["id"] if listed else None
            page = {"data": listed, "has_more": False, "first_id": first, "last_id": last}
            return 200, page, "batch list"
        if batch is None:
            return 404, Fault(404, "not_found_error", "no such batch"), "batch not found"
        if method == "GET" and parts[1:] == []:
            return 200, self._view(api, batch), "batch retrieve"
        if method == "GET" and parts[1:] == ["results"]:
            if self._finish(api, batch) is None:
                return 400, bad_request("batch is still processing"), "batch results early"
            lines = [json.dumps(r) for r in batch.results or []]
            return 200, "\n".join(lines) + "\n", "batch results"
        if method == "POST" and parts[1:] == ["cancel"]:
            batch.cancel_at = batch.cancel_at or datetime.now(UTC)
            return 200, self._view(api, batch), "batch cancel"
        return 404, Fault(404, "not_found_error", "no such route"), "not found"

    def _create(self, api: FakeMessagesAPI, body: Any) -> tuple[int, dict[str, Any] | Fault, str]:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return 400, bad_request("requests: must be a non-empty list"), "invalid batch"
        seen: set[str] = set()
        for index, request in enumerate(requests):
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            params = request.get("params") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
                return 400, bad_request(f"requests.{index}.custom_id: invalid"), "invalid batch"
            if custom_id in seen:
                return 400, bad_request(f"duplicate custom_id {custom_id}"), "invalid batch"
            seen.add(custom_id)
            missing = [k for k in ("model", "max_tokens", "messages") if k not in (params or {})]
            if missing:
                problem = f"requests.{index}.params.{missing[0]}: Field required"
                return 400, bad_request(problem), "invalid batch"
        with self._lock:
            batch_id = f"msgbatch_fake_{next(self._ids):06d}"
            batch = _Batch(batch_id, requests, time.monotonic(), datetime.now(UTC))
            self._batches[batch_id] = batch
            self.created += 1
        return 200, self._view(api, batch), "batch create"

    def _finish(self, api: FakeMessagesAPI, batch: _Batch) -> list[dict[str, Any]] | None:
        """The results once processing time has passed (computed once), else None."""
        with self._lock:
            if batch.results is not None:
                return batch.results
            cancelled = batch.cancel_at is not None
            if not cancelled and time.monotonic() - batch.created < self.processing_seconds:
                return None
            batch.results = [
                self._result(api, i, r, cancelled) for i, r in enumerate(batch.requests)
            ]
            batch.ended_at = datetime.now(UTC)
            return batch.results

    def _result(
        self, api: FakeMessagesAPI, index: int, request: dict[str, Any], cancelled: bool
    ) -> dict[str, Any]:
        custom_id, params = request["custom_id"], request["params"]
        nth = index + 1
        if cancelled:
            return {"custom_id": custom_id, "result": {"type": "canceled"}}
        if self.expired_every and nth % self.expired_every == 0:
            return {"custom_id": custom_id, "result": {"type": "expired"}}
        item = None if self.errored_every and nth % self.errored_every == 0 else api._pop(params)
        if not isinstance(item, Reply):
            fault = item or Fault(500, "api_error", "Internal server error")
            error = {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        item = api._with_cache_usage(item, params)
        message_id = f"msg_fake_b{hashlib.sha256(custom_id.encode()).hexdigest()[:12]}"
        message = message_json(
            item, model=item.model or str(params["model"]), message_id=message_id
        )
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    def _view(self, api: FakeMessagesAPI, batch: _Batch) -> dict[str, Any]:
        results = self._finish(api, batch)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if results is None:
            counts["processing"] = len(batch.requests)
        else:
            for result in results:
                counts[result["result"]["type"]] += 1
        ended = results is not None
        status = "ended" if ended else ("canceling" if batch.cancel_at else "in_progress")
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": batch.created_at.isoformat(),
            "expires_at": (batch.created_at + timedelta(hours=24)).isoformat(),
            "ended_at": batch.ended_at.isoformat() if batch.ended_at else None,
            "cancel_initiated_at": batch.cancel_at.isoformat() if batch.cancel_at else None,
            "archived_at": None,
            "results_url": f"{api.base_url}{BATCHES_PATH}/{batch.id}/results" if ended else None,
        }
