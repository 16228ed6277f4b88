"""Untrusted text is never markup: chat, run, transcript show, approvals, policy explain."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session
from typer.testing import CliRunner

from agent.cli import app as cli
from agent.cli.render import SHOWN_CHARS, print_events
from agent.store.engine import make_engine
from agent.testing import fixtures
from agent.testing.fake_server import text_reply, tool_reply
from agent.text import printable
from agent.transcript.events import ToolCalled, UserMessage, load
from tests.cli.test_cli_api import KEY, use_fake
from tools.retail import DOMAIN

fake_api = fixtures.fake_api
runner = CliRunner()
HOSTILE = "[/x] [black on black]666 Drop Street[/] [bold]not bold[/bold] \\"
HIDDEN = "safe\u202eevil\u2066x\u2069\x00\x1b[31m\x9b"


def seeded(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    with Session(make_engine(db)) as session:
        DOMAIN.seed_demo(session, 0)
        session.commit()
    return db


def test_printable_strips_control_and_bidirectional_characters():
    assert printable(HIDDEN) == "safeevilx[31m"
    assert printable("line one\n\tline two") == "line one\n\tline two"


def test_rendered_events_print_markup_literally_and_stay_bounded():
    from agent.clock import utcnow
    from agent.transcript.events import StoredEvent

    events = [
        StoredEvent(conversation_id="c", seq=1, at=utcnow(), event=UserMessage(text=HOSTILE)),
        StoredEvent(
            conversation_id="c",
            seq=2,
            at=utcnow(),
            event=ToolCalled(tool_use_id="t", name="[red]tool[/red]", input={"a": HIDDEN}),
        ),
        StoredEvent(conversation_id="c", seq=3, at=utcnow(), event=UserMessage(text="x" * 100_000)),
    ]
    out = io.StringIO()
    print_events(Console(file=out, width=120, color_system=None), events, verbose=True)
    text = out.getvalue().replace("\n", "")
    assert HOSTILE.rstrip("\\") in text and "[red]tool[/red]" in text
    assert "\u202e" not in text and "\x00" not in text
    assert text.count("x" * 50) <= SHOWN_CHARS // 50 + 1  # cut when shown


def test_chat_prints_model_text_and_confirm_line_literally(tmp_path, monkeypatch, fake_api):
    db = seeded(tmp_path)
    address = {
        "order_id": "#W1001001",
        "address1": "[black on black]666 Drop Street[/]",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    }
    fake_api.add(
        tool_reply("find_user_id_by_email", {"email": "mia.hernandez@example.com"}),
        tool_reply("modify_pending_order_address", address, text="Sure [/x] thing"),
        text_reply("OK, I left the address as it was [/x]."),
    )
    use_fake(monkeypatch, fake_api, db)
    typed = "mia.hernandez@example.com, change my address\nn\n\n"
    result = runner.invoke(cli.app, ["chat", "--conversation", "chat-x"], input=typed)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())  # undo line wrapping
    assert "Sure [/x] thing" in flat
    assert "[black on black]666 Drop Street[/]" in flat and "[y/N]" in flat
    assert "as it was [/x]." in flat
    with Session(make_engine(db)) as session:
        assert "Drop" not in json.dumps(DOMAIN.snapshot(session)["orders"]["#W1001001"])
        types = [e.event.type for e in load(session, "chat-x")]
    assert "confirmation_declined" in types  # the structured "n" is a plain no
    assert KEY not in result.output


def test_transcript_show_and_approvals_list_print_markup_literally(tmp_path):
    from agent.gate.approvals import QueueApprover
    from agent.transcript.events import append
    from tests.approvals import approval_request

    db = f"sqlite:///{tmp_path / 't.db'}"
    engine = make_engine(db)
    with Session(engine) as session, session.begin():
        from agent.store.tables import Conversation

        session.add(Conversation(id="c1", meta={}))
        append(session, "c1", UserMessage(text=HOSTILE), UserMessage(text=HIDDEN))
    shown = runner.invoke(cli.app, ["transcript", "show", "c1", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "[black on black]666 Drop Street[/]" in shown.output and "\u202e" not in shown.output
    request = approval_request(
        conversation_id="c1", tool="[/x]", role="[black on black]lead", summary=HOSTILE
    )
    QueueApprover(engine).decide(request)
    listed = runner.invoke(cli.app, ["approvals", "list", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert "[/x]" in listed.output and "[black" in listed.output


@pytest.mark.parametrize("name", ["[/x]", "[black on black]t"])
def test_policy_explain_prints_names_literally(name):
    policy = Path(__file__).resolve().parents[2] / "policies" / "retail.yaml"
    result = runner.invoke(
        cli.app, ["policy", "explain", str(policy), "--tool", name, "--effect", "write"]
    )
    assert result.exit_code == 0, result.output
    assert name in result.output.replace("\n", "")
