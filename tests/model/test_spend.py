"""Per-customer limits and the daily spend alert, read from the transcript store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from loguru import logger

from agent.clock import utcnow
from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.client import Usage
from agent.model.scripted import ScriptStep
from agent.model.spend import SpendAlert, SpendGuard
from agent.testing.fake_server import FakeMessagesAPI, text_reply
from agent.transcript.events import ToolResulted
from agent.transcript.log import record
from tests.test_loop import make_agent, types


def replies(n: int) -> list[ScriptStep]:
    return [ScriptStep(content=[{"type": "text", "text": f"answer {i}"}]) for i in range(n)]


BIG = Usage(input_tokens=400_000, output_tokens=10_000)  # $1.35 on Sonnet 4.6


def priced_agent(engine, api: FakeMessagesAPI, n: int):
    """An agent whose replies come over HTTP from a priced model with known usage."""
    api.add(*[text_reply(f"answer {i}", usage=BIG, model="claude-sonnet-4-6") for i in range(n)])
    agent, _ = make_agent(engine, [])
    agent.model = AnthropicModel(
        Settings(base_url=api.base_url, cache=False), api_key="sk-test-not-a-real-key"
    )
    return agent


def authenticate(engine, cid: str, customer: str) -> None:
    record(
        engine,
        cid,
        ToolResulted(
            tool_use_id=f"auth-{cid}", name="find_user", content="ok", customer_id=customer
        ),
    )


def test_messages_per_hour_limit_answers_politely_and_records_an_event(engine):
    agent, model = make_agent(engine, replies(5))
    agent.spend_guard = SpendGuard(engine, messages_per_hour=2)

    assert agent.run("c1", "one").status == "done"
    assert agent.run("c1", "two").status == "done"
    third = agent.run("c1", "three")

    assert (third.status, third.reason) == ("paused", "customer_limit")
    assert "Thank you for your patience" in third.reply
    assert len(model.requests) == 2  # the model was not called for the third message
    assert types(engine, "c1")[-3:] == ["user_message", "error", "run_finished"]


def test_limits_follow_the_customer_across_conversations(engine):
    agent, _ = make_agent(engine, replies(5))
    agent.spend_guard = SpendGuard(engine, messages_per_hour=2)
    agent.run("c1", "hi")
    authenticate(engine, "c1", "cust-7")
    agent.run("c2", "hello")
    authenticate(engine, "c2", "cust-7")
    assert agent.run("c2", "again").reason == "customer_limit"  # two from cust-7 already
    assert agent.run("c3", "someone else").status == "done"


def test_dollars_per_day_limit(engine, fake_api: FakeMessagesAPI):
    agent = priced_agent(engine, fake_api, 3)
    agent.spend_guard = SpendGuard(engine, dollars_per_day=Decimal("2"))
    assert agent.run("c1", "a").status == "done"
    assert agent.run("c1", "b").status == "done"
    assert agent.run("c1", "c").reason == "customer_limit"  # $2.70 spent


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"
    server.shutdown()
    server.server_close()


def test_spend_alert_logs_and_posts_once_a_day(engine, webhook: str, fake_api: FakeMessagesAPI):
    agent = priced_agent(engine, fake_api, 3)
    agent.spend_guard = SpendGuard(engine, alert=SpendAlert(Decimal("1"), webhook))
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
    try:
        agent.run("c1", "a")  # nothing spent yet when it is checked
        agent.run("c1", "b")  # $1.35 spent: alert
        agent.run("c1", "c")  # already alerted today
    finally:
        logger.remove(sink)

    assert [w for w in warnings if "spend alert" in w] == [warnings[0]]
    assert len(Hook.received) == 1
    assert Hook.received[0]["kind"] == "spend_alert"
    assert Decimal(Hook.received[0]["dollars"]) >= Decimal("1")


def test_spend_alert_below_threshold_and_next_day(engine):
    alert = SpendAlert(Decimal("1000"))
    assert alert.check(engine) is None
    alert.threshold = Decimal("0")
    today = utcnow()
    assert alert.check(engine, today) == Decimal(0)
    assert alert.check(engine, today) is None
    assert alert.check(engine, today + timedelta(days=1)) == Decimal(0)


def test_a_failing_webhook_is_logged_not_raised(engine):
    alert = SpendAlert(Decimal("0"), "http://127.0.0.1:9/unreachable", timeout=0.5)
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(str(m)), level="ERROR", format="{message}")
    try:
        assert alert.check(engine) == Decimal(0)
    finally:
        logger.remove(sink)
    assert any("webhook failed" in e for e in errors)
