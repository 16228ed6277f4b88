"""Faults end to end: the real SDK over HTTP against the fake server, with our retry policy."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import Session

from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.breaker import CircuitBreaker
from agent.model.client import (
    CallEnded,
    ChatMessage,
    LiveText,
    ModelError,
    ModelRequest,
    StreamReset,
)
from agent.model.retry import RetryPolicy, RetryRunner
from agent.store.tables import Conversation
from agent.testing.fake_server import (
    FakeMessagesAPI,
    Fault,
    overloaded,
    rate_limited,
    server_error,
    text_reply,
    tool_reply,
)
from tests.test_loop import make_agent, types

KEY = "sk-test-not-a-real-key"


def make_model(api: FakeMessagesAPI, on_text: Any = None, **settings: Any) -> AnthropicModel:
    options: dict[str, Any] = {
        "max_retries": 8,
        "timeout": 5.0,
        "retry_base_delay": 0.001,
        "cache": False,
        **settings,
    }
    return AnthropicModel(Settings(base_url=api.base_url, **options), api_key=KEY, on_text=on_text)


def make_request() -> ModelRequest:
    user = ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])
    return ModelRequest(model="claude-test", max_tokens=256, system="Be brief.", messages=[user])


def error_of(api: FakeMessagesAPI, **settings: Any) -> ModelError:
    with pytest.raises(ModelError) as info:
        make_model(api, **settings).respond(make_request())
    assert KEY not in str(info.value)
    return info.value


@pytest.mark.parametrize("fault", [rate_limited(retry_after_ms=2), overloaded(2), server_error()])
def test_a_storm_of_transient_errors_is_ridden_out(fake_api: FakeMessagesAPI, fault: Fault):
    fake_api.add(text_reply("made it", faults=[fault] * 6))

    response = make_model(fake_api).respond(make_request())

    assert response.message.text() == "made it"
    assert response.retries == 6
    assert [r.answer for r in fake_api.requests][-1] == "stream"


def test_retry_after_is_honoured_up_to_the_cap(fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("ok", faults=[rate_limited(None, retry_after="15")] * 2))
    model = make_model(fake_api, retry_after_cap=0.01)
    slept: list[float] = []
    model.runner.sleep = slept.append
    held: list[float] = []

    def hold(seconds: float) -> None:
        held.append(seconds)
        time.sleep(seconds)

    model.limiter("claude-test").sleep = hold

    model.respond(make_request())

    assert slept == [0.01, 0.01]  # asked for 15 s, capped; not the SDK's own backoff
    assert max(held, default=0.0) <= 0.01  # nor does the limiter hold the next attempt longer


def test_backoff_grows_with_jitter_and_stops_at_the_deadline():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(max_retries=50, deadline=10.0, base_delay=1.0, max_delay=4.0)
    runner = RetryRunner(policy, CircuitBreaker(threshold=1000), lambda: now[0], sleep, lambda: 1.0)
    attempts: list[int] = []

    def attempt(retry: int) -> None:
        attempts.append(retry)
        raise ModelError("overloaded", kind="overloaded")

    with pytest.raises(ModelError) as info:
        runner.call(attempt)

    assert slept == [1.0, 2.0, 4.0]  # the next 4 s would pass the 10 s deadline
    assert "after 3 retries" in str(info.value) and info.value.retries == 3
    assert RetryPolicy().delay(1, None, 0.0) == 0.25  # jitter never goes below half


def test_mid_stream_error_is_retried_and_the_shown_text_withdrawn(fake_api: FakeMessagesAPI):
    fake_api.add(
        text_reply("Let me check that for you", stream_error=overloaded(), stream_error_after=5),
        text_reply("Your order shipped."),
    )
    seen: list[LiveText] = []

    response = make_model(fake_api, on_text=seen.append).respond(make_request())

    resets = [s for s in seen if isinstance(s, StreamReset)]
    assert len(resets) == 1 and resets[0].discarded  # something was shown, then withdrawn
    after = seen[seen.index(resets[0]) + 1 :]
    assert "".join(s for s in after if isinstance(s, str)) == "Your order shipped."
    assert after[-1] == CallEnded()
    assert response.message.text() == "Your order shipped." and response.retries == 1


@pytest.mark.parametrize("cut", [2, 5])
def test_a_cut_stream_is_retried(fake_api: FakeMessagesAPI, cut: int):
    fake_api.add(text_reply("cut off", cut_after_events=cut), text_reply("whole"))

    response = make_model(fake_api).respond(make_request())

    assert response.message.text() == "whole" and response.retries == 1


def test_a_stalled_stream_times_out_and_is_retried(fake_api: FakeMessagesAPI):
    fake_api.add(
        text_reply("stalls", stall_after_events=3, stall_seconds=1.0), text_reply("flowing")
    )

    response = make_model(fake_api, timeout=0.2).respond(make_request())

    assert response.message.text() == "flowing" and response.retries == 1


@pytest.mark.parametrize("kind", ["tool_json", "orphan_delta", "non_json"])
def test_malformed_stream_data_is_a_typed_error(fake_api: FakeMessagesAPI, kind: Any):
    fake_api.add(tool_reply("lookup", {"order_id": "#W1"}, malformed=kind))

    error = error_of(fake_api, max_retries=0)

    assert error.kind == "server_error" and "malformed stream data" in str(error)


def test_malformed_stream_data_is_retried(fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("x", malformed="non_json"), text_reply("clean"))

    assert make_model(fake_api).respond(make_request()).message.text() == "clean"


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", "bad_request"),
        (401, "authentication_error", "auth"),
        (403, "permission_error", "permission"),
        (404, "not_found_error", "not_found"),
        (413, "request_too_large", "too_large"),
        (422, "invalid_request_error", "bad_request"),
    ],
)
def test_client_errors_are_not_retried(
    fake_api: FakeMessagesAPI, status: int, error_type: str, kind: str
):
    fake_api.add(Fault(status, error_type, "no"), text_reply("never"))

    error = error_of(fake_api)

    assert error.kind == kind and not error.retryable
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("status", [408, 409])
def test_request_timeout_and_conflict_are_retried(fake_api: FakeMessagesAPI, status: int):
    fake_api.add(text_reply("second try", faults=[Fault(status, "api_error", "again")]))

    assert make_model(fake_api).respond(make_request()).retries == 1


def test_x_should_retry_false_is_obeyed(fake_api: FakeMessagesAPI):
    fake_api.add(Fault(500, "api_error", "do not", {"x-should-retry": "false"}), text_reply("no"))

    assert error_of(fake_api).kind == "server_error"
    assert len(fake_api.requests) == 1


def test_malformed_stream_in_a_run_ends_it_resumable(engine, fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("x", malformed="orphan_delta"))
    agent, _ = make_agent(engine, [])
    agent.model = make_model(fake_api, max_retries=0)

    result = agent.run("c1", "hello")

    assert (result.status, result.reason) == ("paused", "api_unavailable")
    assert types(engine, "c1")[-2:] == ["error", "run_finished"]
    with Session(engine) as session:
        conversation = session.get(Conversation, "c1")
        assert conversation is not None and conversation.status == "paused"
    fake_api.add(text_reply("All good now."))
    assert agent.resume("c1").reply == "All good now."


def test_a_bad_request_in_a_run_fails_it_with_run_finished(engine, fake_api: FakeMessagesAPI):
    fake_api.add(Fault(404, "not_found_error", "model: claude-nope"))
    agent, _ = make_agent(engine, [])
    agent.model = make_model(fake_api)

    result = agent.run("c1", "hello")

    assert result.status == "failed" and result.reason.startswith("not_found")
    assert types(engine, "c1")[-1] == "run_finished"


def test_retries_breaker_changes_and_failures_are_logged(fake_api: FakeMessagesAPI):
    from loguru import logger

    fake_api.add(overloaded(1), overloaded(1), text_reply("x"))
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message}")
    try:
        with pytest.raises(ModelError):
            make_model(fake_api, max_retries=1, breaker_failures=1).respond(make_request())
    finally:
        logger.remove(sink)
    text = "\n".join(lines)
    assert "retry 1 of 1" in text
    assert "model call failed (overloaded)" in text
    assert "circuit breaker" in text and "is now open" in text
    assert KEY not in text
