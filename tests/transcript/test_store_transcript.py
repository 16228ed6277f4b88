"""Event log: contiguous sequences, history rebuilt from events, no secrets stored."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from agent.model.client import AssistantMessage
from agent.store.engine import normalize_url, redacted_url
from agent.store.tables import Conversation, Event
from agent.transcript.events import (
    EVENT_ADAPTER,
    ModelResponded,
    ToolResulted,
    UserMessage,
    append,
    export_lines,
    load,
)
from agent.transcript.state import derive
from tests.test_loop import call, make_agent, text


def test_append_is_contiguous_and_load_round_trips(engine):
    with Session(engine) as s, s.begin():
        s.add(Conversation(id="c"))
    with Session(engine) as s, s.begin():
        assert append(s, "c", UserMessage(text="a"), UserMessage(text="b")) == [1, 2]
    with Session(engine) as s, s.begin():
        assert append(s, "c", UserMessage(text="c")) == [3]
    with Session(engine) as s:
        events = load(s, "c")
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.event.text for e in events] == ["a", "b", "c"]  # type: ignore[union-attr]


def test_history_rebuilt_from_events_puts_tool_results_before_text():
    msg = AssistantMessage(
        content=[
            {"type": "text", "text": "checking"},
            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
        ],
        stop_reason="tool_use",
    )
    from agent.clock import utcnow
    from agent.transcript.events import StoredEvent

    events = [
        UserMessage(text="hi"),
        ModelResponded(message=msg),
        UserMessage(text="yes"),
        ToolResulted(tool_use_id="t1", name="x", content="done"),
    ]
    state = derive(
        [
            StoredEvent(conversation_id="c", seq=i + 1, at=utcnow(), event=e)
            for i, e in enumerate(events)
        ]
    )
    messages = state.request_messages()
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[2].content == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "done"},
        {"type": "text", "text": "yes"},
    ]
    assert state.pending == []


def test_every_event_type_validates_back(engine):
    agent, _ = make_agent(
        engine, [call("set_value", {"name": "a", "value": 7}, "t1"), text("done")]
    )
    agent.run("c1", "set a")
    agent.run("c1", "yes")
    with Session(engine) as s:
        rows = s.exec(select(Event).where(Event.conversation_id == "c1")).all()
    for row in rows:
        assert EVENT_ADAPTER.validate_python(row.payload).type == row.type


def test_export_has_format_version_and_no_secrets(engine, monkeypatch):
    secret = "sk-ant-api03-secretsecretsecret"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    agent, _ = make_agent(engine, [text("hello")])
    agent.run("c1", "hi")
    with Session(engine) as s:
        lines = export_lines(load(s, "c1"), {"model": "m"})
    header = json.loads(lines[0])
    assert header["format_version"] == 1 and header["conversation_id"] == "c1"
    blob = "\n".join(lines)
    assert secret not in blob and "authorization" not in blob.lower()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_urls(url, expected):
    assert normalize_url(url) == expected


def test_redacted_url_hides_password():
    assert "hunter2" not in redacted_url("postgresql://u:hunter2@h/db")
