"""The fake Messages API speaks the wire format the SDK expects."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from agent.model.client import Usage
from agent.testing import fixtures
from agent.testing.fake_server import (
    FakeMessagesAPI,
    Reply,
    overloaded,
    rate_limited,
    stream_events,
    text_reply,
    tool_reply,
)

fake_api = fixtures.fake_api  # the lead will expose it through the pytest plugin
KEY = "sk-test-not-a-real-key"
BODY: dict[str, Any] = {
    "model": "claude-test",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def post(api: FakeMessagesAPI, body: Any = None, path: str = "/v1/messages") -> httpx2.Response:
    headers = {"x-api-key": KEY, "authorization": f"Bearer {KEY}"}
    return httpx2.post(api.base_url + path, json=BODY if body is None else body, headers=headers)


def sse(response: httpx2.Response) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in response.text.split("\n\n"):
        if chunk.strip():
            name_line, data_line = chunk.split("\n")
            events.append((name_line.removeprefix("event: "), json.loads(data_line[6:])))
    return events


def test_json_reply_through_the_sdk(fake_api: FakeMessagesAPI) -> None:
    usage = Usage(input_tokens=5, output_tokens=2, cache_read_input_tokens=3)
    fake_api.add(text_reply("hi there", usage=usage))
    client = anthropic.Anthropic(api_key=KEY, base_url=fake_api.base_url, max_retries=0)

    message = client.messages.create(**BODY)

    assert message.content[0].type == "text" and message.content[0].text == "hi there"
    assert message.model == "claude-test"
    assert message.usage.cache_read_input_tokens == 3
    assert fake_api.requests[0].answer == "json"


def test_sse_wire_format(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(
        tool_reply("lookup", {"id": "abc123"}, id="toolu_1", text="Hmm", json_chunk_size=4)
    )

    response = post(fake_api, {**BODY, "stream": True})

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"] == fake_api.requests[0].request_id
    events = sse(response)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    started = events[0][1]["message"]
    assert started["content"] == [] and started["stop_reason"] is None
    partial = [
        d["delta"]["partial_json"] for n, d in events if d.get("delta", {}).get("partial_json")
    ]
    assert len(partial) > 1 and json.loads("".join(partial)) == {"id": "abc123"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert set(events[-2][1]["usage"]) >= {"input_tokens", "output_tokens"}


def test_thinking_is_streamed_with_signature() -> None:
    reply = Reply(content=[{"type": "thinking", "thinking": "abcdefgh", "signature": "SIG"}])
    reply.text_chunk_size = 3

    deltas = [e["delta"] for e in stream_events(reply, model="m", message_id="msg") if "delta" in e]

    assert [d["type"] for d in deltas[:-1]] == ["thinking_delta"] * 3 + ["signature_delta"]
    assert deltas[3]["signature"] == "SIG"


def test_credentials_are_redacted_before_recording(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("x"))

    post(fake_api)

    headers = fake_api.requests[0].headers
    assert headers["x-api-key"] == "REDACTED"
    assert headers["authorization"] == "REDACTED"
    assert KEY not in json.dumps(headers)


def test_faults_come_first_with_retry_headers(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(
        text_reply("ok", faults=[rate_limited(retry_after_ms=25, retry_after="1"), overloaded()])
    )
    assert fake_api.pending == 3

    first, second = post(fake_api), post(fake_api)

    assert first.status_code == 429
    assert first.headers["retry-after-ms"] == "25" and first.headers["retry-after"] == "1"
    assert first.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": first.json()["error"]["message"]},
    }
    assert second.status_code == 529 and second.json()["error"]["type"] == "overloaded_error"
    assert post(fake_api).status_code == 200


def test_empty_queue_names_the_problem(fake_api: FakeMessagesAPI) -> None:
    client = anthropic.Anthropic(api_key=KEY, base_url=fake_api.base_url, max_retries=2)

    with pytest.raises(anthropic.InternalServerError, match="no scripted reply left"):
        client.messages.create(**BODY)

    assert [r.answer for r in fake_api.requests] == ["empty queue"]  # x-should-retry: false


def test_cut_stream_ends_cleanly(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("some words here", cut_after_events=4))

    response = post(fake_api, {**BODY, "stream": True})

    assert response.status_code == 200
    assert [name for name, _ in sse(response)] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
    ]


def test_stream_error_event(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("x", stream_error=overloaded(), stream_error_after=2))

    events = sse(post(fake_api, {**BODY, "stream": True}))

    assert events[-1] == ("error", overloaded().body())


def test_unknown_path_and_invalid_body(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("kept"))

    assert post(fake_api, path="/v1/complete").status_code == 404
    missing = post(fake_api, {"model": "m", "messages": []})

    assert missing.status_code == 400
    assert "max_tokens" in missing.json()["error"]["message"]
    assert fake_api.pending == 1
    assert [r.answer for r in fake_api.requests] == ["not found", "invalid request"]


def test_base_url_needs_a_started_server() -> None:
    api = FakeMessagesAPI()

    with pytest.raises(RuntimeError, match="not started"):
        _ = api.base_url
