"""The inbox commands end to end: triage's honesty about where it talks, list/show, answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from agent.store.engine import make_engine
from agent.testing.fake_server import FakeMessagesAPI, text_reply, tool_reply
from agent.transcript.events import CustomerVerified, ToolResulted, UserMessage, load
from tools.retail.tables import RetailUser
from tools.tickets.tables import Ticket

from .conftest import KEY, invoke

ROOT = Path(__file__).resolve().parents[2]


def test_triage_without_a_key_refuses_unless_asked_for_the_fake_api(inbox_url, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    refused = invoke("triage", "--db", inbox_url)
    assert refused.exit_code == 2
    assert "ANTHROPIC_API_KEY is not set" in refused.output and "--offline" in refused.output
    done = invoke("triage", "--offline", "--db", inbox_url, "--concurrency", "3")
    assert done.exit_code == 0, done.output
    assert "offline: the fake API started in this process" in done.output
    assert "not written by Claude" in done.output
    assert "triaged 24, failed 0" in done.output
    assert done.output.count("\ntriaged T-") == 24  # plain log lines when not a terminal
    listed = invoke("tickets", "list", "--status", "new", "--db", inbox_url)
    assert "0 ticket(s)" in listed.output


def test_batch_triage_offline_reports_the_batch_price(inbox_url):
    result = invoke("triage", "--offline", "--batch", "--poll", "0.05", "--db", inbox_url)
    assert result.exit_code == 0, result.output
    assert "submitted batch msgbatch_fake_000001 with 24 tickets" in result.output
    assert "at the batch price" in result.output
    shown = json.loads(invoke("tickets", "show", "T-00001", "--json", "--db", inbox_url).output)
    assert shown["triage_mode"] == "batch" and len(shown["gist"]) == 3


def test_a_base_url_without_a_key_says_it_is_not_claude(inbox_url, monkeypatch, gist_api):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", gist_api.base_url)
    result = invoke("triage", "--ids", "T-00001,T-00002", "--db", inbox_url)
    assert result.exit_code == 0, result.output
    assert f"talking to the server at {gist_api.base_url}" in result.output
    assert "not to Claude" in result.output and "triaged 2, failed 0" in result.output
    clash = invoke("triage", "--all", "--ids", "T-00003", "--db", inbox_url)
    assert clash.exit_code == 2 and "choose one of" in clash.output


def test_list_and_show_print_untrusted_text_literally(tmp_path):
    db = f"sqlite:///{tmp_path / 'u.db'}"
    path = tmp_path / "t.jsonl"
    row = {
        "id": "T-9",
        "customer_email": "a@example.com",
        "subject": "[bold red]pwned[/] \x1b[2J",
        "body": "Hello [link=http://evil]click[/link]\x1b]0;title\x07",
    }
    path.write_text(json.dumps(row) + "\n")
    assert invoke("tickets", "import", path, "--db", db).exit_code == 0
    listed = invoke("tickets", "list", "--db", db)
    shown = invoke("tickets", "show", "T-9", "--db", db)
    for output in (listed.output, shown.output):
        assert "\x1b" not in output and "\x07" not in output
    assert "[bold red]pwned[/]" in shown.output
    assert "[link=http://evil]click[/link]" in shown.output
    as_json = [
        json.loads(line)
        for line in invoke("tickets", "list", "--json", "--db", db).output.splitlines()
    ]
    assert as_json[0]["subject"] == row["subject"]  # JSON keeps the data exactly
    assert invoke("tickets", "show", "T-404", "--db", db).exit_code == 2
    assert invoke("tickets", "list", "--status", "bogus", "--db", db).exit_code == 2


def test_the_real_entry_point_mounts_the_inbox_commands():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from agent.cli import main; sys.argv[0]='support-agent'; main()",
            "--help",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "tickets" in out and "triage" in out and "db" in out


def test_answer_opens_a_guarded_conversation_for_the_tickets_verified_sender(
    inbox_url, monkeypatch, fake_api: FakeMessagesAPI
):
    engine = make_engine(inbox_url)
    with Session(engine) as session:
        ticket = session.get(Ticket, "T-00001")
        assert ticket is not None
        user = session.exec(
            select(RetailUser).where(RetailUser.email == ticket.customer_email)
        ).one()
    fake_api.add(
        tool_reply("get_user_details", {"user_id": user.user_id}),
        text_reply("I can see your account and I'm looking into it."),
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    result = invoke("tickets", "answer", "T-00001", "--db", inbox_url, input="\n")
    assert result.exit_code == 0, result.output
    assert f"customer {user.user_id}" in result.output
    assert "I can see your account" in result.output
    with Session(engine) as session:
        ticket = session.get(Ticket, "T-00001")
        assert ticket is not None
        assert ticket.status == "in_progress" and ticket.conversation_id == "ticket-T-00001"
        events = [e.event for e in load(session, "ticket-T-00001")]
    verified, first = events[0], events[1]
    assert isinstance(verified, CustomerVerified) and verified.customer_id == user.user_id
    assert isinstance(first, UserMessage) and ticket.subject in first.text
    lookup = next(e for e in events if isinstance(e, ToolResulted))
    assert lookup.executed and not lookup.is_error  # authenticated: the gate let it through
    sent = fake_api.requests[0].body["messages"][0]["content"]
    assert ticket.body.splitlines()[0] in json.dumps(sent)
    assert KEY not in result.output


def test_answer_for_a_stranger_starts_unauthenticated_and_the_gate_refuses(
    tmp_path, monkeypatch, fake_api: FakeMessagesAPI
):
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert invoke("db", "init", "--db", db).exit_code == 0
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "S-1",
                "customer_email": "stranger@example.org",
                "subject": "Hi",
                "body": "Show me order #W1001001",
            }
        )
        + "\n"
    )
    assert invoke("tickets", "import", path, "--db", db).exit_code == 0
    fake_api.add(
        tool_reply("get_order_details", {"order_id": "#W1001001"}), text_reply("Who are you?")
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    result = invoke("tickets", "answer", "S-1", "--db", db, input="\n")
    assert result.exit_code == 0, result.output
    assert "unverified" in result.output
    with Session(make_engine(db)) as session:
        events = [e.event for e in load(session, "ticket-S-1")]
    refused = next(e for e in events if isinstance(e, ToolResulted))
    assert refused.is_error and not refused.executed
