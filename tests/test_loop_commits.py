"""A turn that ends in a pause or a stop commits that step's events with the turn's end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from agent.gate.approvals import ScriptedApprover
from tests.test_loop import call, make_agent, types


def commits(engine: Engine) -> list[int]:
    """A one-item list counting the engine's commits from now on."""
    count = [0]

    def counted(_conn: Any) -> None:
        count[0] += 1

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
