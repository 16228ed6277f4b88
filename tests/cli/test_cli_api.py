"""`chat` and `resume` end to end: the real SDK against the local fake Messages API."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session
from typer.testing import CliRunner

from agent.cli import app as cli
from agent.config import Settings
from agent.gate.approvals import QueueApprover
from agent.replay.scenario import load_scenario
from agent.replay.scenario_run import run_scenario
from agent.store.engine import make_engine
from agent.testing import fixtures
from agent.testing.fake_server import FakeMessagesAPI, rate_limited, text_reply, tool_reply
from agent.transcript.events import load
from tests.cli.approvers import act_as
from tools.retail import DOMAIN

fake_api = fixtures.fake_api
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
KEY = "sk-test-not-a-real-key-0123456789"
runner = CliRunner()


def use_fake(monkeypatch, server: FakeMessagesAPI, db: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("SUPPORT_AGENT_DB", db)


def test_resume_after_queue_approval_runs_the_write_once(tmp_path, monkeypatch, fake_api):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    config = tmp_path / "support-agent.toml"
    config.write_text('[approvers]\nlee = ["team-lead"]\n')
    monkeypatch.setenv("SUPPORT_AGENT_CONFIG", str(config))
    scenario = load_scenario(SCENARIOS / "large-refund-approved.yaml")
    scenario.turns = scenario.turns[:2]  # paused: the request waits in the queue
    scenario.expect.status, scenario.expect.executed, scenario.expect.db = "paused", None, None
    outcome = run_scenario(scenario, DOMAIN, Settings.load(), db_url=db)
    assert outcome.failures == []
    cid = outcome.events[0].conversation_id
    engine = make_engine(db)
    request_id = QueueApprover(engine).list("pending")[0].request_id
    act_as(monkeypatch, tmp_path, "lee", {"lee": ["team-lead"]})
    approved = runner.invoke(cli.app, ["approvals", "approve", request_id, "--db", db])
    assert approved.exit_code == 0, approved.output

    fake_api.add(rate_limited(retry_after_ms=10), text_reply("Your laptop return is approved."))
    use_fake(monkeypatch, fake_api, db)
    result = runner.invoke(cli.app, ["resume", cid])
    assert result.exit_code == 0, result.output
    assert "status: done" in result.output
    again = runner.invoke(cli.app, ["resume", cid])  # nothing left to do, nothing re-run
    assert again.exit_code == 0

    with Session(engine) as session:
        events = [e.event for e in load(session, cid)]
        order = DOMAIN.snapshot(session)["orders"]["#W1001003"]
    assert order["status"] == "return requested"
    assert (
        sum(
            1
            for e in events
            if e.type == "tool_result" and e.executed and e.name == "return_delivered_order_items"
        )
        == 1
    )
    sent = fake_api.requests[-1].body
    assert "return requested" in json.dumps(sent["messages"][-1])
    assert sent["system"] and sent["tools"]  # the real system prompt and tool list went out
    assert all(KEY not in json.dumps(r.headers) for r in fake_api.requests)
    assert all(KEY not in json.dumps(e.model_dump(mode="json")) for e in events)
    response = next(e for e in reversed(events) if e.type == "model_response")
    assert response.retries == 1 and response.request_id


def test_chat_talks_to_the_api_and_confirms_at_the_prompt(tmp_path, monkeypatch, fake_api):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(db)
    with Session(engine) as session:
        DOMAIN.seed_demo(session, 0)
        session.commit()
    fake_api.add(
        tool_reply("find_user_id_by_email", {"email": "mia.hernandez@example.com"}),
        tool_reply("cancel_pending_order", {"order_id": "#W1001001", "reason": "no longer needed"}),
        text_reply("Order #W1001001 is cancelled."),
    )
    use_fake(monkeypatch, fake_api, db)
    typed = "mia.hernandez@example.com, cancel #W1001001\nyes\n\n"
    result = runner.invoke(cli.app, ["chat", "--conversation", "chat-1"], input=typed)
    assert result.exit_code == 0, result.output
    assert "Order #W1001001 is cancelled." in result.output
    flat = " ".join(result.output.split())
    assert "Please confirm: For Mia Hernandez (mia_hernandez_1001): Cancel order #W1001001" in flat
    with Session(engine) as session:
        assert DOMAIN.snapshot(session)["orders"]["#W1001001"]["status"] == "cancelled"
        assert load(session, "chat-1")[-1].event.type == "run_finished"
    assert KEY not in result.output
