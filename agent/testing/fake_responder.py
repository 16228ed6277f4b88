"""A deterministic stand-in for the model, for trying the agent offline (`support-agent fake-api`).

It knows no domain: it reads the request's tool schemas. When the customer's latest
message holds values that fill every required field of a tool (an email for a field
named `email`, a token matching a field's `pattern`), it calls the first such tool it
has not called yet with those values; after a tool result it reports what came back;
otherwise it asks for an identifier.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.testing.wire import Reply, text_reply, tool_reply

GREETING = (
    "I'm the offline fake assistant. Tell me your email address or an order id "
    "and I will look it up."
)
TOKEN = re.compile(r"[#\w.@+-]+")


def respond(body: dict[str, Any]) -> Reply:
    """The reply to one Messages API request body."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    blocks = _blocks(last)
    results = [b for b in blocks if b.get("type") == "tool_result"]
    if results:
        content = _result_text(results[-1])
        verdict = "That did not work" if results[-1].get("is_error") else "Here is what I found"
        return text_reply(f"{verdict}: {content[:400]}")
    text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    called = _called(messages)
    for tool in body.get("tools") or []:
        args = fill(tool.get("input_schema") or {}, text)
        if args is not None and args and (tool.get("name"), _key(args)) not in called:
            return tool_reply(str(tool.get("name")), args, text="Let me look that up.")
    return text_reply(GREETING)


def fill(schema: dict[str, Any], text: str) -> dict[str, Any] | None:
    """Values for every required field of a schema taken from `text`, or None."""
    properties: dict[str, Any] = schema.get("properties") or {}
    tokens = [t.rstrip(".,!?") for t in TOKEN.findall(text)]
    args: dict[str, Any] = {}
    for name in schema.get("required") or []:
        spec = properties.get(name) or {}
        value = _value_for(name, spec, tokens)
        if value is None:
            return None
        args[name] = value
    return args


def _value_for(name: str, spec: dict[str, Any], tokens: list[str]) -> str | None:
    if spec.get("type") not in (None, "string"):
        return None
    pattern = spec.get("pattern")
    if pattern:
        return next((t for t in tokens if re.fullmatch(pattern, t)), None)
    if "email" in name or spec.get("format") == "email":
        return next((t for t in tokens if re.fullmatch(r"[^@\s]+@[^@\s]+\.\w+", t)), None)
    return None


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content or "")


def _key(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True)


def _called(messages: list[dict[str, Any]]) -> set[tuple[Any, str]]:
    return {
        (b.get("name"), _key(b.get("input") or {}))
        for m in messages
        if m.get("role") == "assistant"
        for b in _blocks(m)
        if b.get("type") == "tool_use"
    }
