"""AnthropicModel against the fake Messages API: the real SDK, real HTTP, no network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from agent.config import MissingApiKey, Settings
from agent.model.anthropic import AnthropicModel, with_cache_control
from agent.model.client import CallEnded, ChatMessage, LiveText, ModelError, ModelRequest, Usage
from agent.testing import fixtures
from agent.testing.fake_server import (
    FakeMessagesAPI,
    Fault,
    Reply,
    overloaded,
    prompt_too_long,
    rate_limited,
    server_error,
    stream_events,
    text_reply,
    tool_reply,
)

fake_api = fixtures.fake_api  # the lead will expose it through the pytest plugin
KEY = "sk-test-not-a-real-key"
TOOLS: list[dict[str, Any]] = [
    {"name": "first", "description": "One.", "input_schema": {"type": "object"}},
    {"name": "second", "description": "Two.", "input_schema": {"type": "object"}},
]


def make_model(api: FakeMessagesAPI, on_text: Any = None, **settings: Any) -> AnthropicModel:
    settings.setdefault("max_retries", 2)
    settings.setdefault("timeout", 5.0)
    settings.setdefault("retry_base_delay", 0.001)
    return AnthropicModel(Settings(base_url=api.base_url, **settings), api_key=KEY, on_text=on_text)


def make_request(
    tools: list[dict[str, Any]] | None = None, system: str = "Be brief."
) -> ModelRequest:
    user = ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])
    return ModelRequest(
        model="claude-test", max_tokens=256, system=system, messages=[user], tools=tools or []
    )


def assert_key_never_sent_back(api: FakeMessagesAPI) -> None:
    for recorded in api.requests:
        assert recorded.headers["authorization"] == "REDACTED"
        assert KEY not in json.dumps(recorded.headers)


def error_of(api: FakeMessagesAPI, **settings: Any) -> ModelError:
    with pytest.raises(ModelError) as info:
        make_model(api, **settings).respond(make_request())
    assert KEY not in str(info.value)
    return info.value


def test_text_streams_in_chunks_to_on_text(fake_api: FakeMessagesAPI) -> None:
    text = "Hello! Your order shipped yesterday and should arrive soon."
    fake_api.add(text_reply(text, text_chunk_size=7))
    chunks: list[LiveText] = []

    response = make_model(fake_api, on_text=chunks.append).respond(make_request())

    assert chunks[-1] == CallEnded()
    assert len(chunks) > 3
    assert "".join(c for c in chunks if isinstance(c, str)) == text
    assert response.message.text() == text
    assert response.message.stop_reason == "end_turn"
    assert fake_api.requests[0].body["stream"] is True
    assert_key_never_sent_back(fake_api)


def test_tool_input_split_over_json_deltas(fake_api: FakeMessagesAPI) -> None:
    tool_input = {"order_id": "#W0001", "item_ids": ["1", "2", "3"], "note": {"why": "too big"}}
    fake_api.add(
        tool_reply("lookup", tool_input, id="toolu_01", text="Let me check.", json_chunk_size=5)
    )

    message = make_model(fake_api).respond(make_request()).message

    (block,) = message.blocks_of("tool_use")
    assert block == {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": tool_input}
    assert message.stop_reason == "tool_use"
    assert message.text() == "Let me check."


def test_thinking_redacted_and_unknown_blocks_kept_exactly(fake_api: FakeMessagesAPI) -> None:
    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "The customer wants a refund.", "signature": "c2ln=="},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        {"type": "brand_new_block", "payload": {"x": 1}, "maybe": None},
        {"type": "text", "text": "Done."},
    ]
    fake_api.add(Reply(content=[dict(b) for b in content], text_chunk_size=4))

    message = make_model(fake_api).respond(make_request()).message

    assert message.content == content


def test_rate_limit_is_retried_by_us_not_the_sdk(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("after the wait", faults=[rate_limited(retry_after_ms=10)]))

    response = make_model(fake_api).respond(make_request())

    assert [r.answer for r in fake_api.requests] == ["fault 429", "stream"]
    assert response.message.text() == "after the wait"
    assert response.retries == 1
    # the SDK's own retry loop is off: each of our attempts is a fresh first try for it
    assert fake_api.requests[1].headers["x-stainless-retry-count"] == "0"
    assert_key_never_sent_back(fake_api)


def test_overloaded_twice_then_success(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("finally", faults=[overloaded(), overloaded()]))

    response = make_model(fake_api).respond(make_request())

    assert len(fake_api.requests) == 3
    assert response.retries == 2
    assert response.message.text() == "finally"


def test_server_errors_beyond_max_retries(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(server_error(), server_error(), server_error(), text_reply("never seen"))

    error = error_of(fake_api, max_retries=2)

    assert error.kind == "server_error"
    assert "after 2 retries" in str(error)
    assert len(fake_api.requests) == 3
    assert fake_api.pending == 1


def test_rate_limit_after_retries(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(rate_limited(), rate_limited())

    assert error_of(fake_api, max_retries=1).kind == "rate_limited"


def test_prompt_too_long_is_context_window_exceeded(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(prompt_too_long())

    error = error_of(fake_api)

    assert error.kind == "context_window_exceeded"
    assert "prompt is too long" in str(error)
    assert len(fake_api.requests) == 1  # 400 is not retried


def test_other_bad_request(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(Fault(400, "invalid_request_error", "messages: roles must alternate"))

    assert error_of(fake_api).kind == "bad_request"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_never_echo_the_key(fake_api: FakeMessagesAPI, status: int) -> None:
    fake_api.add(Fault(status, "authentication_error", f"invalid x-api-key {KEY}"))

    error = error_of(fake_api)

    assert error.kind == {401: "auth", 403: "permission"}[status]
    assert "[REDACTED]" in str(error)
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("cut", [0, 1, 3, 8])
def test_cut_stream_is_an_error_not_a_short_answer(fake_api: FakeMessagesAPI, cut: int) -> None:
    fake_api.add(text_reply("This answer gets cut off in the middle.", cut_after_events=cut))

    assert error_of(fake_api, max_retries=0).kind == "stream_cut"


def test_error_event_mid_stream(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("partial", stream_error=overloaded(), stream_error_after=4))

    assert error_of(fake_api, max_retries=0).kind == "overloaded"


def test_timeout(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("too late", delay_seconds=0.5))

    assert error_of(fake_api, timeout=0.1, max_retries=0).kind == "timeout"


def test_connection_refused() -> None:
    with FakeMessagesAPI() as dead:
        url = dead.base_url
    model = AnthropicModel(Settings(base_url=url, max_retries=0), api_key=KEY)

    with pytest.raises(ModelError) as info:
        model.respond(make_request())

    assert info.value.kind == "connection"


STOP_REASONS = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
    "brand_new_reason",
]


@pytest.mark.parametrize("stop_reason", STOP_REASONS)
def test_every_stop_reason_passes_through(fake_api: FakeMessagesAPI, stop_reason: str) -> None:
    stop_sequence = "###" if stop_reason == "stop_sequence" else None
    fake_api.add(text_reply("x", stop_reason=stop_reason, stop_sequence=stop_sequence))

    message = make_model(fake_api).respond(make_request()).message

    assert message.stop_reason == stop_reason
    assert message.stop_sequence == stop_sequence


def test_usage_and_request_id(fake_api: FakeMessagesAPI) -> None:
    usage = Usage(
        input_tokens=321,
        output_tokens=45,
        cache_creation_input_tokens=1000,
        cache_read_input_tokens=2000,
    )
    fake_api.add(text_reply("ok", usage=usage))

    response = make_model(fake_api).respond(make_request())

    assert response.message.usage == usage
    assert response.request_id == fake_api.requests[0].request_id
    assert response.request_id is not None and response.request_id.startswith("req_")
    assert response.latency_ms > 0
    assert response.retries == 0


def test_cache_control_on_system_and_last_tool(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("cached"))

    make_model(fake_api).respond(make_request(tools=TOOLS))

    body = fake_api.requests[0].body
    ephemeral = {"type": "ephemeral"}
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": ephemeral}]
    assert body["tools"][-1]["cache_control"] == ephemeral
    assert "cache_control" not in body["tools"][0]
    assert "cache_control" not in TOOLS[-1]  # the request's tools are not mutated


def test_cache_disabled_sends_plain_system(fake_api: FakeMessagesAPI) -> None:
    fake_api.add(text_reply("plain"))

    make_model(fake_api, cache=False).respond(make_request(tools=TOOLS))

    body = fake_api.requests[0].body
    assert body["system"] == "Be brief."
    assert all("cache_control" not in tool for tool in body["tools"])


def test_with_cache_control_leaves_empty_system_alone() -> None:
    kwargs = with_cache_control({"system": "", "messages": []})

    assert kwargs == {"system": "", "messages": []}


def test_missing_key_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(MissingApiKey, match="ANTHROPIC_API_KEY"):
        AnthropicModel(Settings())


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch, fake_api: FakeMessagesAPI) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    fake_api.add(text_reply("env key"))

    model = AnthropicModel(Settings(base_url=fake_api.base_url))

    assert model.respond(make_request()).message.text() == "env key"
    assert_key_never_sent_back(fake_api)


class BreaksOff(httpx2.SyncByteStream):
    """An SSE body that delivers message_start and then fails the way a dropped socket does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        first = stream_events(text_reply("never finished"), model="m", message_id="msg_1")[0]
        yield f"event: message_start\ndata: {json.dumps(first)}\n\n".encode()
        raise self.error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx2.RemoteProtocolError("peer closed connection"), "stream_cut"),
        (httpx2.ReadTimeout("read timed out"), "timeout"),
    ],
)
def test_transport_failure_mid_stream(error: Exception, kind: str) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream", "request-id": "req_1"}
        return httpx2.Response(200, headers=headers, stream=BreaksOff(error))

    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    client = anthropic.Anthropic(api_key=KEY, base_url="http://fake.invalid", http_client=http)
    model = AnthropicModel(Settings(max_retries=0), client=client)

    with pytest.raises(ModelError) as info:
        model.respond(make_request())

    assert info.value.kind == kind
