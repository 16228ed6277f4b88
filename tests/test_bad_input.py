"""Bad tool input is bounded: control characters, over-long strings, deep nesting."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from agent.model.client import AssistantMessage
from agent.store.engine import make_engine
from agent.transcript.events import ValidationFailed, load
from tests.test_loop import call, make_agent, text, types
from tests.toy import ToyValue


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def problems(engine, cid: str = "c1") -> list[str]:
    with Session(engine) as session:
        return [
            f"{p.field}: {p.problem}"
            for e in load(session, cid)
            if isinstance(e.event, ValidationFailed)
            for p in e.event.errors
        ]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("a\x00", "control characters"),
        ("a\x1b[31m", "control characters"),
        ("a" * 100_000, "longer than"),
        (nested(300), "nested more than"),
    ],
)
def test_bad_input_is_a_validation_error_and_the_run_finishes(engine, bad, problem):
    agent, model = make_agent(engine, [call("lookup", {"name": bad}, "t1"), text("sorry")])
    result = agent.run("c1", "look it up")
    assert result.status == "done"
    assert types(engine)[-1] == "run_finished" and "validation_error" in types(engine)
    assert any(problem in p for p in problems(engine))
    sent = model.requests[1].messages[-1].content[0]
    assert sent["is_error"] and problem in sent["content"]


def test_deep_tool_input_is_replaced_at_the_edge():
    message = AssistantMessage.model_validate(
        {"content": [{"type": "tool_use", "id": "t", "name": "x", "input": nested(300)}]}
    )
    kept = message.content[0]["input"]
    assert list(kept) == ["__input_rejected__"] and "nested" in kept["__input_rejected__"]
    fine = AssistantMessage.model_validate(
        {"content": [{"type": "tool_use", "id": "t", "name": "x", "input": nested(5)}]}
    )
    assert fine.content[0]["input"] == nested(5)


def test_nul_in_input_does_not_poison_a_postgres_conversation(pg_url):
    engine = make_engine(pg_url)
    with Session(engine) as session:
        session.add(ToyValue(name="a", value=1))
        session.commit()
    agent, _ = make_agent(
        engine,
        [
            call("lookup", {"name": "a\x00"}, "t1"),
            text("sorry"),
            call("lookup", {"name": "a"}, "t2"),
            text("a is 1"),
        ],
    )
    assert agent.run("c1", "look up a").status == "done"
    assert agent.run("c1", "again please").status == "done"
    assert "control characters" in problems(engine)[0]
    engine.dispose()
