"""The circuit breaker: fail fast during an outage, shared through the store, runs pause."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from agent.cli.app import app
from agent.cli.paused import paused_for_api
from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.breaker import CircuitBreaker, api_available
from agent.model.client import ChatMessage, ModelError, ModelRequest
from agent.store.engine import make_engine
from agent.testing.fake_server import FakeMessagesAPI, overloaded, rate_limited, text_reply
from tests.test_loop import make_agent

KEY = "sk-test-not-a-real-key"
TOY_SPEC = "tests.toy_domain:DOMAIN"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def request() -> ModelRequest:
    user = ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])
    return ModelRequest(model="claude-test", max_tokens=50, system="Be brief.", messages=[user])


def make_model(api: FakeMessagesAPI, engine: Engine | None = None, **settings: Any):
    options: dict[str, Any] = {
        "retry_base_delay": 0.001,
        "max_retries": 1,
        "breaker_failures": 3,
        "cache": False,
        **settings,
    }
    return AnthropicModel(Settings(base_url=api.base_url, **options), api_key=KEY, engine=engine)


def test_opens_after_consecutive_failed_calls_then_probes_once():
    clock = Clock()
    breaker = CircuitBreaker("b", threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        breaker.record("overloaded")
    breaker.record("rate_limited")  # too fast is not down
    breaker.check()
    breaker.record("connection")

    with pytest.raises(ModelError) as info:
        breaker.check()
    assert info.value.kind == "api_unavailable" and not info.value.retryable

    clock.now += 10
    breaker.check()  # half-open: one probe goes through
    with pytest.raises(ModelError):
        breaker.check()  # the others still fail fast
    breaker.record("server_error")  # the probe failed: open again
    assert breaker.is_open()
    clock.now += 10
    breaker.check()
    breaker.record(None)  # the probe got an answer
    assert breaker.state == "closed"
    breaker.check()


def test_a_client_error_means_the_api_is_up():
    breaker = CircuitBreaker("b", threshold=2)
    breaker.record("timeout")
    breaker.record("bad_request")
    breaker.record("timeout")
    breaker.check()  # not two in a row


def test_an_outage_costs_only_threshold_calls_to_the_dead_api(fake_api: FakeMessagesAPI):
    fake_api.add(*[overloaded(1)] * 40)
    model = make_model(fake_api)
    kinds = []
    for _ in range(10):  # ten conversations during the outage
        with pytest.raises(ModelError) as info:
            model.respond(request())
        kinds.append(info.value.kind)

    assert kinds[:3] == ["overloaded"] * 3
    assert kinds[3:] == ["api_unavailable"] * 7
    assert len(fake_api.requests) == 6  # three calls of two attempts; then nothing


def test_the_breaker_is_shared_through_the_database(tmp_path, fake_api: FakeMessagesAPI):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = CircuitBreaker("api", threshold=1, cooldown=30, engine=make_engine(url))
    second = CircuitBreaker("api", threshold=1, cooldown=30, engine=make_engine(url))

    first.record("overloaded")

    assert second.is_open()  # another process sees it open
    with pytest.raises(ModelError):
        second.check()
    assert not api_available(make_engine(url), "api")
    first.state, first.opened_at = "half_open", 0.0
    first.record(None)
    assert api_available(make_engine(url), "api")


def test_a_run_during_an_outage_pauses_and_resume_all_paused_continues_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    with FakeMessagesAPI() as api:
        api.add(*[overloaded(1)] * 2)
        agent, _ = make_agent(engine, [])
        agent.model = make_model(api, engine=engine, breaker_failures=1, breaker_cooldown=0.05)

        result = agent.run("c1", "hello")

        assert (result.status, result.reason) == ("paused", "api_unavailable")
        assert "saved" in result.reply
        assert paused_for_api(engine) == ["c1"]

        api.add(text_reply("Back again."))
        time.sleep(0.1)  # past the breaker's 0.05 s cooldown (a fast machine got here sooner)
        for name, value in {
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": api.base_url,
            "SUPPORT_AGENT_RETRY_BASE_DELAY": "0.001",
            "SUPPORT_AGENT_BREAKER_COOLDOWN": "0.05",
        }.items():
            monkeypatch.setenv(name, value)
        out = CliRunner().invoke(
            app, ["resume", "--all-paused", "--db", str(db), "--domain", TOY_SPEC]
        )

    assert out.exit_code == 0, out.output
    assert "c1: done" in out.output
    assert paused_for_api(engine) == []


def test_resume_all_paused_waits_while_the_breaker_is_open(tmp_path, monkeypatch):
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    CircuitBreaker("anthropic:http://127.0.0.1:9", threshold=1, engine=engine).record("timeout")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")

    out = CliRunner().invoke(app, ["resume", "--all-paused", "--db", str(db), "--domain", TOY_SPEC])

    assert out.exit_code == 1
    assert "still unavailable" in out.output


def test_rate_limits_never_open_the_breaker(fake_api: FakeMessagesAPI):
    fake_api.add(*[rate_limited(1)] * 10, text_reply("fine"))
    model = make_model(fake_api, max_retries=0)
    for _ in range(10):
        with pytest.raises(ModelError):
            model.respond(request())
    assert model.respond(request()).message.text() == "fine"
