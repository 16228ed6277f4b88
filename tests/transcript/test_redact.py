"""Redaction: personal values masked everywhere, consistently, and nothing else touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from agent.cli.app import app
from agent.clock import utcnow
from agent.model.client import AssistantMessage
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.transcript.events import (
    FORMAT_VERSION,
    GateDecided,
    ModelResponded,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    append,
    export_lines,
)
from agent.transcript.redact import Redactor, redact_transcript

USER = {
    "user_id": "mia_hernandez_1001",
    "name": {"first_name": "Mia", "last_name": "Hernandez"},
    "email": "mia.hernandez@example.com",
    "address": {
        "address1": "412 Maple Avenue",
        "address2": "Apt 3",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    },
    "payment_methods": {"credit_card_1001001": {"source": "credit_card", "last_four": "4242"}},
}


def events() -> list[StoredEvent]:
    evs = [
        UserMessage(text="Hi, I'm Mia Hernandez (MIA.HERNANDEZ@example.com), zip 78701."),
        ToolCalled(tool_use_id="t1", name="find_user_id_by_email", input={"email": USER["email"]}),
        ToolResulted(
            tool_use_id="t1",
            name="get_user_details",
            content=json.dumps(USER, sort_keys=True),
            executed=True,
            customer_id="mia_hernandez_1001",
        ),
        GateDecided(
            tool_use_id="t2",
            name="cancel_pending_order",
            verdict="confirm",
            args_hash="abc",
            facts={"customer_id": "mia_hernandez_1001", "refund_total": 12.5},
        ),
        ModelResponded(
            message=AssistantMessage(
                content=[
                    {"type": "text", "text": "Thanks Mia! I'll refund credit_card_1001001."},
                    {
                        "type": "tool_use",
                        "id": "t2",
                        "name": "cancel_pending_order",
                        "input": {"order_id": "#W1", "payment_method_id": "credit_card_1001001"},
                    },
                ]
            )
        ),
        UserMessage(text="Send it to 412 Maple Avenue, Austin please, not to Miami."),
    ]
    return [
        StoredEvent(conversation_id="c1", seq=i, at=utcnow(), event=e)
        for i, e in enumerate(evs, start=1)
    ]


SECRETS = [
    "mia.hernandez",
    "Hernandez",
    "Mia ",
    "412 Maple",
    "Austin",
    "78701",
    "credit_card_1001001",
    "mia_hernandez_1001",
    "Apt 3",
]


def exported(evs: list[StoredEvent]) -> str:
    return "\n".join(export_lines(evs, {"domain": "retail"}))


def test_personal_values_are_masked_everywhere() -> None:
    masked, _ = redact_transcript(events())
    text = exported(masked)
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), secret
    first = masked[0].event
    assert isinstance(first, UserMessage)
    assert first.text == "Hi, I'm name_1 name_2 (email_1@redacted.example), zip address_5."
    assert "Miami" in text and "TX" in text and "USA" in text  # not names, not masked
    assert '"last_four": "card_1"' in masked[2].event.content  # type: ignore[union-attr]


def test_the_same_value_gets_the_same_mask_in_every_event() -> None:
    masked, _ = redact_transcript(events())
    result = masked[2].event
    assert isinstance(result, ToolResulted)
    shape = json.loads(result.content)
    assert shape["email"] == "email_1@redacted.example"
    assert shape["name"] == {"first_name": "name_1", "last_name": "name_2"}
    assert list(shape["payment_methods"]) == ["payment_1"]
    assert result.customer_id == shape["user_id"] == "customer_1"
    call = masked[1].event
    assert isinstance(call, ToolCalled) and call.input == {"email": "email_1@redacted.example"}
    reply = masked[4].event
    assert isinstance(reply, ModelResponded)
    assert reply.message.content[0]["text"] == "Thanks name_1! I'll refund payment_1."
    assert reply.message.content[1]["input"]["payment_method_id"] == "payment_1"
    decided = masked[3].event
    assert isinstance(decided, GateDecided) and decided.facts["customer_id"] == "customer_1"
    assert decided.facts["refund_total"] == 12.5


def test_structure_and_tool_result_format_are_kept() -> None:
    masked, _ = redact_transcript(events())
    assert [(e.seq, e.event.type) for e in masked] == [(e.seq, e.event.type) for e in events()]
    content = masked[2].event.content  # type: ignore[union-attr]
    assert content == json.dumps(json.loads(content), sort_keys=True)


@pytest.mark.parametrize("text", ["", "no personal data here", "Order #W1 is pending."])
def test_text_without_personal_values_is_unchanged(text: str) -> None:
    redactor = Redactor()
    redactor.collect({"first_name": "Zoe"})
    assert redactor.apply(text) == text


def test_cli_export_redact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        session.add(Conversation(id="c1", meta={"domain": "retail"}))
        append(session, "c1", *[e.event for e in events()])
    engine.dispose()
    result = CliRunner().invoke(app, ["transcript", "export", "c1", "--db", url, "--redact"])
    assert result.exit_code == 0, result.output
    header = json.loads(result.output.split("\n")[0])
    assert header["format_version"] == FORMAT_VERSION
    for secret in SECRETS:
        assert secret.lower() not in result.output.lower(), secret
    plain = CliRunner().invoke(app, ["transcript", "export", "c1", "--db", url])
    assert "mia.hernandez@example.com" in plain.output


def test_cards_phones_streets_and_name_stems_are_masked():
    from agent.transcript.events import ErrorOccurred, ToolResulted

    user = {
        "user_id": "omar_khan_2002",
        "email": "omar.khan@example.com",
        "name": {"first_name": "Omar", "last_name": "Khan"},
        "address": {"address1": "9 Larkspur Lane", "city": "Denver", "zip": "80202"},
        "payment_methods": {
            "credit_card_2002": {
                "source": "credit_card",
                "brand": "mastercard",
                "last_four": "5521",
            }
        },
    }
    evs = [
        ToolResulted(
            tool_use_id="t1", name="get_user_details", content=json.dumps(user, sort_keys=True)
        ),
        UserMessage(
            text="Call me on (512) 555-0199 or +1 512-555-0198, my street is Larkspur Lane"
        ),
        UserMessage(text="the mastercard ending 5521, and tell omar I said hi; omar_khan's order"),
        ErrorOccurred(kind="auth", message="invalid x-api-key sk-ant-api03-Xy12…9zQ"),
    ]
    stored = [
        StoredEvent(conversation_id="c1", seq=i, at=utcnow(), event=e)
        for i, e in enumerate(evs, start=1)
    ]
    masked, _ = redact_transcript(stored)
    text = exported(masked)
    for secret in ("555-0199", "555-0198", "Larkspur", "mastercard", "5521", "Omar", "omar",
                   "Khan", "Xy12", "9zQ"):  # fmt: skip
        assert secret.lower() not in text.lower(), secret
    assert "phone_" in text and "card_" in text
