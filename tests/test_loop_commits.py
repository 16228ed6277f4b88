"""A turn that ends in a pause or a stop commits that step's events with the turn's end."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from agent.gate.approvals import ScriptedApprover
from agent.store.engine import RELAXED, is_reader
from agent.store.lease import Lease
from agent.transcript.events import ModelRequested, UserMessage
from agent.transcript.log import CUSTOMER_INPUT, ConversationLog
from tests.test_loop import call, make_agent, text, types

SAID = {kind.model_fields["type"].default for kind in CUSTOMER_INPUT}


def commits(engine: Engine) -> list[int]:
    """A one-item list counting the engine's commits that write, from now on."""
    count = [0]

    def counted(conn: Any) -> None:
        count[0] += not is_reader(conn)

    event.listen(engine, "commit", counted)
    return count


def test_a_confirmation_question_is_committed_with_the_paused_turn(engine: Engine) -> None:
    agent, _ = make_agent(engine, [call("set_value", {"name": "a", "value": 7}, "t1")])
    count = commits(engine)
    assert agent.run("c1", "set a to 7").status == "paused"
    assert count[0] == 2  # the customer's message with the lease, then the rest of the turn
    assert types(engine)[-3:] == ["gate_decision", "confirmation_requested", "run_finished"]


def test_an_approval_request_is_committed_with_the_paused_turn(engine: Engine) -> None:
    agent, _ = make_agent(
        engine, [call("set_value", {"name": "a", "value": 900}, "t1")], ScriptedApprover([])
    )
    assert agent.run("c1", "set a to 900").status == "paused"
    assert agent.state("c1").finished is not None
    count = commits(engine)
    result = agent.run("c1", "yes")
    assert (result.status, result.reason) == ("paused", "approval")
    assert count[0] == 1  # the yes takes the lease with the request and the turn's end
    assert types(engine)[-2:] == ["approval_requested", "run_finished"]


def test_a_stop_commits_the_last_invalid_call_with_the_failed_turn(engine: Engine) -> None:
    bad = {"name": "", "value": "lots"}
    agent, _ = make_agent(engine, [call("set_value", bad, f"t{i}") for i in range(3)])
    count = commits(engine)
    result = agent.run("c1", "set it")
    assert result.status == "failed"
    assert count[0] == 1 + 2 + 1  # message; two refused calls; the third with the turn's end
    assert types(engine)[-3:] == ["validation_error", "tool_result", "run_finished"]


def committed(engine: Engine) -> list[tuple[bool, list[str]]]:
    """Each transaction committed from now on: (waited for the disk, event types written)."""
    done: list[tuple[bool, list[str]]] = []
    open_: dict[int, tuple[bool, list[str]]] = {}

    def begin(conn: Any) -> None:
        open_[id(conn)] = (not conn.get_execution_options().get(RELAXED, False), [])

    def statement(
        conn: Any, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        if str(clauseelement).startswith("INSERT INTO event ") and id(conn) in open_:
            rows = [*multiparams, *([params] if params else [])]
            open_[id(conn)][1].extend(row["type"] for row in rows)

    def commit(conn: Any) -> None:
        done.append(open_.pop(id(conn)))

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_execute", statement)
    event.listen(engine, "commit", commit)
    return done


def test_only_what_the_customer_said_is_committed_without_waiting_for_the_disk(
    toy_store: Engine,
) -> None:
    steps = [
        call("lookup", {"name": "a"}, "t1"),
        call("set_value", {"name": "a", "value": 7}, "t2"),
        text("Done, a is 7."),
        text("You're welcome."),
    ]
    agent, _ = make_agent(toy_store, steps)
    seen = committed(toy_store)
    assert agent.run("c1", "what is a? set it to 7").status == "paused"
    assert agent.run("c1", "yes").status == "done"
    assert agent.run("c1", "thanks").status == "done"
    relaxed = [written for durable, written in seen if not durable]
    # Each opening before a model call: the new conversation, then "thanks". The "yes"
    # is committed with the write it clears, which waits.
    assert relaxed == [["user_message"], ["user_message"]]
    durable = [t for waited, written in seen if waited for t in written]
    assert {"model_response", "tool_result", "gate_decision", "run_finished"} <= set(durable)
    assert "confirmation_given" in durable
    assert types(toy_store)[-1] == "run_finished"


def test_a_relaxed_commit_of_anything_but_customer_input_writes_nothing(
    toy_store: Engine,
) -> None:
    log = ConversationLog(toy_store, "c1", Lease(toy_store))
    log.open_turn([UserMessage(text="hi")], meta={})
    request = ModelRequested(
        model="m",
        max_tokens=1,
        message_count=1,
        system_sha256="",
        tools_sha256="",
        messages_sha256="",
    )
    with pytest.raises(ValueError, match="model_request"):
        log.commit([request], durable=False)
    assert types(toy_store) == []
    assert not log.holds_lease
    assert "user_message" in SAID and "model_response" not in SAID
