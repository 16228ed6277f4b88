"""Transcript files: read back, refuse clearly, migrate, schema, and a hypothesis round trip."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlmodel import Session

from agent.model.client import AssistantMessage, Usage
from agent.registry import FieldProblem
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.transcript.events import (
    FORMAT_VERSION,
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
    CustomerVerified,
    ErrorOccurred,
    GateDecided,
    ModelRequested,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    ValidationFailed,
    load,
)
from agent.transcript.files import (
    Migration,
    TranscriptError,
    export_text,
    parse_text,
    read_transcript,
    schema_text,
    shipped_schema_path,
    transcript_schema,
    write_transcript,
)
from agent.transcript.log import record

META = {"domain": "toy", "data": {"demo_seed": 3}, "policy": {"source": "p.yaml"}}


def stored(*events: Any, cid: str = "c1") -> list[StoredEvent]:
    from agent.clock import utcnow

    return [
        StoredEvent(conversation_id=cid, seq=i, at=utcnow(), event=e)
        for i, e in enumerate(events, start=1)
    ]


def sample() -> list[StoredEvent]:
    return stored(
        UserMessage(text="hi"),
        ToolCalled(tool_use_id="t1", name="lookup", input={"name": "a"}),
        ToolResulted(tool_use_id="t1", name="lookup", content='{"value": 1}', executed=True),
        RunFinished(status="done", reply="a is 1"),
    )


def test_export_reads_back_with_header(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_transcript(path, sample(), META)
    header, events = read_transcript(path)
    assert header.format_version == FORMAT_VERSION
    assert header.conversation_id == "c1"
    assert header.meta.data.demo_seed == 3 and header.meta.policy.source == "p.yaml"
    assert [(e.seq, e.event) for e in events] == [(e.seq, e.event) for e in sample()]


@pytest.mark.parametrize(
    ("lines", "where", "words"),
    [
        ([], ":", "empty file"),
        (["not json"], ":1:", "header is not valid JSON"),
        (['{"format_version": 1}'], ":1:", "not a support-agent transcript"),
        (['{"format_version": 99, "kind": "support-agent-transcript"}'], ":1:", "newer"),
        (['{"format_version": "1", "kind": "support-agent-transcript"}'], ":1:", "unknown"),
        (["HEADER", '{"conversation_id": "c1", "seq": 1'], ":2:", "invalid JSON"),
        (["HEADER", "EVENT", "[1, 2]"], ":3:", "invalid event"),
        (
            ["HEADER", '{"conversation_id": "c1", "seq": 1, "at": "2026-01-01T00:00:00Z", '
             '"event": {"type": "telepathy"}}'],
            ":2:",
            "invalid event: event",
        ),
        (["HEADER", "EVENT", "EVENT"], ":3:", "seq 1 does not follow seq 1"),
    ],
)  # fmt: skip
def test_unusable_files_fail_naming_file_and_line(
    tmp_path: Path, lines: list[str], where: str, words: str
) -> None:
    good = export_text(sample()[:1], META).split("\n")
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(good[0] if x == "HEADER" else good[1] if x == "EVENT" else x for x in lines)
    )
    with pytest.raises(TranscriptError) as caught:
        read_transcript(path)
    assert str(caught.value).startswith(f"{path}{where}")
    assert words in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="cannot read"):
        read_transcript(tmp_path / "nope.jsonl")


def test_older_versions_are_migrated_by_named_functions(tmp_path: Path) -> None:
    def rename_text(event: dict[str, Any]) -> dict[str, Any]:
        inner = event["event"]
        if inner.get("type") == "user_message":
            inner["text"] = inner.pop("words")
        return event

    v1 = [Migration(1, "user_message.words -> text", event=rename_text)]
    old = export_text(stored(UserMessage(text="hi")), META).replace('"text"', '"words"')
    with pytest.raises(TranscriptError, match="invalid event"):
        parse_text(old)  # as version 1 the old spelling is invalid
    header, events = parse_text(old, migrations=v1, current=2)
    assert header.format_version == 2
    assert events[0].event == UserMessage(text="hi")
    with pytest.raises(TranscriptError, match="no migration path from format_version 1 to 3"):
        parse_text(old, migrations=v1, current=3)


def test_shipped_schema_is_the_generated_one() -> None:
    assert shipped_schema_path().read_text() == schema_text(), (
        "agent/schemas/transcript.schema.json is stale: run `python -m agent.transcript.files`"
    )


def test_every_export_line_validates_against_the_schema() -> None:
    validator = Draft202012Validator(transcript_schema())
    events = sample() + stored(
        ModelResponded(message=AssistantMessage(content=[{"type": "text", "text": "x"}])),
        ApprovalDecided(
            tool_use_id="t", request_id="r", args_hash="h", approved=True, by="b", role="r"
        ),
        cid="c1",
    )
    for i, e in enumerate(events, start=1):
        e.seq = i
    for line in export_text(events, META).strip().split("\n"):
        assert not list(validator.iter_errors(json.loads(line))), line
    assert not validator.is_valid({"conversation_id": "c", "seq": 1, "at": "x", "event": {}})


# --- hypothesis: whatever the recorder writes exports and imports unchanged ---

text = st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=4)
moments = st.datetimes(timezones=st.just(UTC))
usage = st.builds(Usage, input_tokens=st.integers(0, 10**6), output_tokens=st.integers(0, 10**6))
blocks = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(
        lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
        text,
        text,
        json_objects,
    ),
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": s}, text, text),
)
messages = st.builds(
    AssistantMessage,
    id=text,
    model=text,
    content=st.lists(blocks, max_size=3),
    stop_reason=st.sampled_from([None, "end_turn", "tool_use", "max_tokens", "pause_turn"]),
    usage=usage,
)
problems = st.builds(FieldProblem, field=text, problem=text, expected=text, got=scalars)
verdicts = st.sampled_from(["allow", "confirm", "approve", "deny"])
events = st.one_of(
    st.builds(UserMessage, text=text),
    st.builds(ModelRequested, model=text, max_tokens=st.integers(1, 10**5), message_count=st.integers(0, 99), system_sha256=text, tools_sha256=text, messages_sha256=text),  # noqa: E501
    st.builds(ModelResponded, message=messages, request_id=st.none() | text, latency_ms=st.floats(0, 1e6), retries=st.integers(0, 5), usage=usage),  # noqa: E501
    st.builds(ToolCalled, tool_use_id=text, name=text, input=json_values),
    st.builds(ValidationFailed, tool_use_id=text, name=text, errors=st.lists(problems, max_size=2)),
    st.builds(GateDecided, tool_use_id=text, name=text, verdict=verdicts, args_hash=text, rules=st.lists(text, max_size=2), reasons=st.lists(text, max_size=2), role=st.none() | text, facts=json_objects),  # noqa: E501
    st.builds(ConfirmationRequested, tool_use_id=text, args_hash=text, summary=text),
    st.builds(ConfirmationGiven, tool_use_id=text, args_hash=text, text=text),
    st.builds(ConfirmationDeclined, tool_use_id=text, args_hash=text, text=text),
    st.builds(ApprovalRequested, tool_use_id=text, request_id=text, args_hash=text, role=text, summary=text, reasons=st.lists(text, max_size=2), expires_at=moments),  # noqa: E501
    st.builds(ApprovalDecided, tool_use_id=text, request_id=text, args_hash=text, approved=st.booleans(), by=text, role=text, reason=text, decided_at=moments),  # noqa: E501
    st.builds(ToolResulted, tool_use_id=text, name=text, content=text, is_error=st.booleans(), executed=st.booleans(), customer_id=st.none() | text, ends_conversation=st.booleans()),  # noqa: E501
    st.builds(ErrorOccurred, kind=st.sampled_from(["rate_limited", "budget", "stop_reason", "api_error"]), message=text),  # noqa: E501
    st.builds(CustomerVerified, customer_id=text),
    st.builds(RunFinished, status=st.sampled_from(["done", "paused", "failed", "handed_off"]), reason=text, reply=text, usage=usage),  # noqa: E501
)  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('h') / 'h.db'}")
    yield engine
    engine.dispose()


@given(recorded=st.lists(events, max_size=10))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_recorded_events_export_and_import_unchanged(store: Any, recorded: list[Any]) -> None:
    cid = f"h-{uuid.uuid4().hex}"
    with Session(store) as session, session.begin():
        session.add(Conversation(id=cid, meta=META))
    if recorded:
        record(store, cid, *recorded)
    with Session(store) as session:
        loaded = load(session, cid)
    assert [e.event for e in loaded] == recorded
    header, back = parse_text(export_text(loaded, META))
    assert back == loaded
    assert header.conversation_id == (cid if loaded else None)
