"""The loop and gate on a toy domain: stop reasons, validation, confirmation, limits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from agent.gate.approvals import ScriptedApprover
from agent.gate.gate import Gate
from agent.loop import Agent, Limits
from agent.model.client import ModelError, ModelRequest, ModelResponse
from agent.model.scripted import ScriptedModel, ScriptError, ScriptStep
from agent.store.tables import Conversation, Execution
from agent.transcript.events import (
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationUnclear,
    load,
)
from tests.toy import ToyPolicy, ToyValue, registry


def text(t: str, stop: str = "end_turn") -> ScriptStep:
    return ScriptStep(content=[{"type": "text", "text": t}], stop_reason=stop)


def call(name: str, args: Any, tid: str, stop: str = "tool_use", say: str = "") -> ScriptStep:
    content: list[dict[str, Any]] = [{"type": "text", "text": say}] if say else []
    content.append({"type": "tool_use", "id": tid, "name": name, "input": args})
    return ScriptStep(content=content, stop_reason=stop)


def make_agent(engine, steps, approver=None, **limits) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(steps)
    gate = Gate(engine, registry(), ToyPolicy(), approver=approver)
    agent = Agent(
        engine,
        model,
        gate,
        "You are a test agent.",
        Limits(model="test-model", max_tokens=100, **limits),
    )
    return agent, model


def value(engine, name="a") -> ToyValue:
    with Session(engine) as s:
        row = s.get(ToyValue, name)
        assert row is not None
        return row


def types(engine, cid="c1") -> list[str]:
    with Session(engine) as s:
        return [e.event.type for e in load(s, cid)]


def test_end_turn_replies_and_records(engine):
    agent, _ = make_agent(engine, [text("Hello!")])
    result = agent.run("c1", "hi")
    assert (result.status, result.reply) == ("done", "Hello!")
    assert types(engine) == ["user_message", "model_request", "model_response", "run_finished"]


def test_read_tool_result_goes_back_to_model(engine):
    agent, model = make_agent(engine, [call("lookup", {"name": "a"}, "t1"), text("a is 1")])
    result = agent.run("c1", "what is a?")
    assert result.status == "done"
    sent = model.requests[1].messages[-1].content[0]
    assert sent == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": '{"name": "a", "value": 1}',
    }


def test_unknown_tool_and_domain_error_are_tool_errors(engine):
    agent, model = make_agent(
        engine, [call("nope", {}, "t1"), call("lookup", {"name": "zz"}, "t2"), text("sorry")]
    )
    assert agent.run("c1", "x").status == "done"
    first = model.requests[1].messages[-1].content[0]
    assert first["is_error"] and "unknown tool 'nope'" in first["content"]
    assert "lookup, set_value" in first["content"]
    second = model.requests[2].messages[-1].content[0]
    assert second["is_error"] and "no value named 'zz'" in second["content"]
    assert "Traceback" not in second["content"]


def test_invalid_input_lists_fields_then_budget_stops(engine):
    bad = {"name": "", "value": "lots", "extra": 1}
    agent, model = make_agent(engine, [call("set_value", bad, f"t{i}") for i in range(5)])
    result = agent.run("c1", "set it")
    feedback = model.requests[1].messages[-1].content[0]["content"]
    assert "- name:" in feedback and "- value:" in feedback and "expected" in feedback
    assert result.status == "failed" and "3 invalid calls in a row to set_value" in result.reason
    assert len(model.requests) == 3
    assert value(engine).value == 1


def test_write_pauses_for_confirmation_and_yes_executes_once(engine):
    agent, _ = make_agent(
        engine, [call("set_value", {"name": "a", "value": 7}, "t1"), text("Done, a is 7.")]
    )
    paused = agent.run("c1", "set a to 7")
    assert paused.status == "paused" and "set a to 7" in paused.reply
    assert value(engine).value == 1
    done = agent.run("c1", "yes please")
    assert done.status == "done" and value(engine).value == 7 and value(engine).writes == 1
    assert agent.resume("c1").status == "done"
    assert value(engine).writes == 1


def test_declined_confirmation_is_told_to_model(engine):
    agent, model = make_agent(
        engine, [call("set_value", {"name": "a", "value": 7}, "t1"), text("OK, not changed.")]
    )
    agent.run("c1", "set a to 7")
    result = agent.run("c1", "no, wait")
    assert result.status == "done" and value(engine).value == 1
    last = model.requests[1].messages[-1].content
    assert last[0]["is_error"] and "declined" in last[0]["content"]
    assert last[1] == {"type": "text", "text": "no, wait"}


def test_policy_deny_reaches_model(engine):
    agent, model = make_agent(
        engine, [call("set_value", {"name": "a", "value": 13}, "t1"), text("can't")]
    )
    agent.run("c1", "13 please")
    assert "13 is unlucky" in model.requests[1].messages[-1].content[0]["content"]
    assert value(engine).value == 1


def test_approval_now_approved_and_denied(engine):
    yes = ScriptedApprover([{"approved": True, "by": "lee", "role": "team-lead"}])
    agent, _ = make_agent(
        engine, [call("set_value", {"name": "a", "value": 900}, "t1"), text("done")], approver=yes
    )
    agent.run("c1", "big")
    assert agent.run("c1", "yes").status == "done" and value(engine).value == 900
    no = ScriptedApprover(
        [{"approved": False, "by": "lee", "role": "team-lead", "reason": "too much"}]
    )
    agent, model = make_agent(
        engine, [call("set_value", {"name": "b", "value": 901}, "t1"), text("denied")], approver=no
    )
    agent.run("c2", "big")
    agent.run("c2", "yes")
    assert value(engine, "b").value == 2
    assert "too much" in model.requests[1].messages[-1].content[0]["content"]


def test_wrong_role_or_hash_fails_closed(engine):
    for answer in (
        {"approved": True, "by": "x", "role": "intern"},
        {"approved": True, "by": "x", "role": "team-lead", "args_hash": "0" * 64},
    ):
        agent, _ = make_agent(
            engine,
            [call("set_value", {"name": "a", "value": 900}, "t1"), text("ok")],
            approver=ScriptedApprover([answer]),
        )
        cid = f"c-{answer['role']}-{len(answer)}"
        agent.run(cid, "big")
        agent.run(cid, "yes")
        assert value(engine).value == 1


@pytest.mark.parametrize("stop", ["max_tokens", "refusal", "model_context_window_exceeded"])
def test_cut_or_refused_reply_never_runs_its_tool(engine, stop):
    agent, _ = make_agent(engine, [call("set_value", {"name": "a", "value": 5}, "t1", stop=stop)])
    result = agent.run("c1", "x")
    assert result.status == "failed" and result.reason
    assert value(engine).value == 1
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == []


def test_pause_turn_continues_and_unknown_stop_reason_reported(engine):
    agent, model = make_agent(engine, [text("thinking...", "pause_turn"), text("done")])
    assert agent.run("c1", "x").reply == "thinking...\n\ndone"
    assert model.requests[1].messages[-1].role == "assistant"
    agent, _ = make_agent(engine, [text("??", "brand_new_reason")])
    result = agent.run("c2", "x")
    assert result.status == "failed" and "brand_new_reason" in result.reason


def test_stop_sequence_is_done(engine):
    agent, _ = make_agent(engine, [text("bye", "stop_sequence")])
    assert agent.run("c1", "x").status == "done"


def test_thinking_and_unknown_blocks_go_back_unchanged(engine):
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "mystery_block", "payload": {"x": 1}},
        {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"name": "a"}},
    ]
    agent, model = make_agent(
        engine, [ScriptStep(content=blocks, stop_reason="tool_use"), text("ok")]
    )
    agent.run("c1", "x")
    assert model.requests[1].messages[1].content == blocks


def test_model_call_limit_and_model_error(engine):
    steps = [call("lookup", {"name": "a"}, f"t{i}") for i in range(5)]
    agent, _ = make_agent(engine, steps, max_model_calls=2)
    result = agent.run("c1", "loop")
    assert result.status == "failed" and "model call limit" in result.reason

    class Broken:
        def respond(self, request: ModelRequest) -> ModelResponse:
            raise ModelError("overloaded after retries", kind="overloaded")

    agent, _ = make_agent(engine, [])
    agent.model = Broken()
    result = agent.run("c2", "x")  # a transient fault that outlasted the retries: resumable
    assert (result.status, result.reason) == ("paused", "api_unavailable")
    assert "error" in types(engine, "c2")

    class Refused:
        def respond(self, request: ModelRequest) -> ModelResponse:
            raise ModelError("400 invalid_request_error", kind="bad_request")

    agent.model = Refused()
    result = agent.run("c3", "x")
    assert result.status == "failed" and "bad_request" in result.reason


def test_script_running_out_names_the_step(engine):
    agent, _ = make_agent(engine, [call("lookup", {"name": "a"}, "t1")])
    with pytest.raises(ScriptError, match="called 2 times but the script has only 1"):
        agent.run("c1", "x")


def test_handoff_ends_conversation(engine):
    agent, _ = make_agent(engine, [call("handoff", {"name": "a"}, "t1")])
    assert agent.run("c1", "human please").status == "handed_off"


def test_restart_mid_conversation_continues_from_store(engine):
    steps = [call("set_value", {"name": "a", "value": 7}, "t1"), text("done")]
    first, _ = make_agent(engine, steps)
    first.run("c1", "set a to 7")
    second, model = make_agent(engine, steps[1:])  # a new process: only the store survives
    assert second.run("c1", "yes").status == "done"
    assert value(engine).value == 7
    assert model.requests[0].messages[0].content == [{"type": "text", "text": "set a to 7"}]


def test_tool_call_limit(engine):
    agent, model = make_agent(
        engine,
        [call("lookup", {"name": "a"}, f"t{i}") for i in range(3)] + [text("ok")],
        max_tool_calls=2,
    )
    agent.run("c1", "x")
    assert "tool call limit" in model.requests[3].messages[-1].content[0]["content"]


def test_roster_requires_the_approver_to_hold_the_role(engine):
    answer = {"approved": True, "by": "sam", "role": "team-lead"}
    agent, model = make_agent(
        engine,
        [call("set_value", {"name": "a", "value": 900}, "t1"), text("no")],
        approver=ScriptedApprover([answer]),
    )
    agent.gate.roster = {"lee": ["team-lead"], "sam": ["agent"]}
    agent.run("c1", "big")
    agent.run("c1", "yes")
    assert value(engine).value == 1
    assert "does not hold the role" in model.requests[1].messages[-1].content[0]["content"]


def test_state_cache_is_bounded_and_refolds_evicted_conversations(engine):
    agent, _ = make_agent(engine, [text(f"hi {i}") for i in range(3)])
    agent.cached_conversations = 2
    for cid in ("c1", "c2", "c3"):
        agent.run(cid, "hello")
    assert list(agent._logs) == ["c2", "c3"]
    again = agent.state("c1")  # evicted: rebuilt from the store, identical
    assert again.last_response is not None and again.last_response.message.text() == "hi 0"
    assert list(agent._logs) == ["c3", "c1"]


def test_tool_use_in_an_end_turn_reply_is_answered_and_the_next_message_works(engine):
    # Issue 8, hole 11: such a reply used to leave a dangling tool_use that failed the
    # customer's next message.
    odd = ScriptStep(
        content=[
            {"type": "text", "text": "Done."},
            {"type": "tool_use", "id": "t9", "name": "lookup", "input": {"name": "a"}},
        ],
        stop_reason="end_turn",
    )
    agent, _ = make_agent(engine, [odd, text("Anything else?")])
    assert agent.run("c1", "hi").status == "done"
    assert agent.run("c1", "thanks").status == "done"
    with Session(engine) as s:
        results = [e.event for e in load(s, "c1") if e.event.type == "tool_result"]
    assert len(results) == 1 and results[0].is_error and "ended its turn" in results[0].content


def test_a_reused_tool_use_id_counts_and_records_its_new_input(engine):
    # Issue 8, hole 11: the reused id skipped the tool-call limit and its tool_call event
    # showed the old input.
    steps = [
        call("lookup", {"name": "a"}, "t1"),
        call("lookup", {"name": "b"}, "t1"),
        text("done"),
    ]
    agent, _ = make_agent(engine, steps, max_tool_calls=1)
    agent.run("c1", "look twice")
    with Session(engine) as s:
        events = [e.event for e in load(s, "c1")]
    called = [e for e in events if e.type == "tool_call"]
    assert [c.input for c in called] == [{"name": "a"}]  # the second was over the limit
    refused = [e for e in events if e.type == "tool_result" and e.is_error]
    assert refused and "tool call limit" in refused[-1].content


def recorded_earlier(engine, tool: str) -> None:
    """The ledger row an earlier life (or another worker) wrote for c1's call t1."""
    with Session(engine) as s:
        if s.get(Conversation, "c1") is None:
            s.add(Conversation(id="c1", meta={}))
        row = Execution(conversation_id="c1", tool_use_id="t1", tool=tool, args_hash="x")
        row.result = "recorded earlier"
        s.add(row)
        s.commit()


def results_and_ledger(engine) -> tuple[list[Any], list[Execution]]:
    """c1's tool results and every ledger row."""
    with Session(engine) as s:
        results = [e.event for e in load(s, "c1") if e.event.type == "tool_result"]
        return results, list(s.exec(select(Execution)).all())


def test_a_call_the_ledger_already_holds_reads_its_result_and_runs_nothing(toy_store) -> None:
    """An earlier life ran the write (ledger row) but this cache never saw its result."""
    engine = toy_store
    agent, _ = make_agent(
        engine, [call("set_value", {"name": "a", "value": 7}, "t1"), text("done")]
    )
    assert agent.run("c1", "set a to 7").status == "paused"
    recorded_earlier(engine, "set_value")
    assert agent.run("c1", "yes").status == "done"
    results, ledger = results_and_ledger(engine)
    assert [(r.content, r.executed) for r in results] == [("recorded earlier", False)]
    assert len(ledger) == 1 and value(engine).value == 1  # nothing ran a second time


def test_a_read_the_ledger_already_holds_answers_with_the_recorded_result(toy_store) -> None:
    """A read is recorded after it ran: a second record of the same id loses to the first."""
    engine = toy_store
    agent, _ = make_agent(engine, [call("lookup", {"name": "a"}, "t1"), text("done")])
    recorded_earlier(engine, "lookup")  # by another worker, before this one ran it
    assert agent.run("c1", "what is a?").status == "done"
    results, ledger = results_and_ledger(engine)
    assert [r.content for r in results] == ["recorded earlier"]
    assert [(row.tool_use_id, row.result) for row in ledger] == [("t1", "recorded earlier")]


@pytest.mark.parametrize(
    ("payout_fact", "facts", "expected"),
    [
        (None, {"paid": 12.5}, None),  # the domain names no payout fact: nothing to show
        ("paid", {"paid": 12.5}, 12.5),
        ("paid", {"paid": True}, None),  # not an amount
        ("paid", {}, None),
    ],
)
def test_an_approval_request_carries_the_payout_the_domain_names(
    engine, payout_fact: str | None, facts: dict[str, Any], expected: float | None
) -> None:
    """The queue shows what a call would pay without knowing any domain's fact names."""
    approver = ScriptedApprover([])
    agent, _ = make_agent(engine, [call("set_value", {"name": "a", "value": 900}, "t1")], approver)
    agent.gate.registry.payout_fact = payout_fact
    agent.gate.registry.facts = lambda ctx, tool, args: dict(facts)
    assert agent.run("c1", "set a to 900").status == "paused"
    assert agent.run("c1", "yes").reason == "approval"
    assert [seen.payout for seen in approver.seen] == [expected]


def test_a_stale_cache_never_reads_a_message_against_a_question_already_answered(
    toy_store,
) -> None:
    """Worker A asked; worker B took the yes; A's next message is read on the store's state.

    A still caches the question as open, so its first attempt reads "thanks, that's all"
    as an answer to it; the commit that takes the lease refuses that (StaleTurn, nothing
    written) and the turn is opened again on what B wrote.
    """
    engine = toy_store
    a, model_a = make_agent(
        engine, [call("set_value", {"name": "a", "value": 7}, "t1"), text("Anything else?")]
    )
    b, _ = make_agent(engine, [text("Done, a is 7.")])
    assert a.run("c1", "set a to 7").status == "paused"
    assert b.run("c1", "yes").status == "done"  # B's first sight of c1: read inside the take
    assert "t1" not in a.log("c1").state.confirmations  # A's cache: the question is open
    assert a.run("c1", "thanks, that's all").status == "done"
    with Session(engine) as s:
        events = [e for e in load(s, "c1")]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    tail = [e.event.type for e in events[-4:]]
    assert tail == ["user_message", "model_request", "model_response", "run_finished"]
    answers = [
        e.event
        for e in events
        if isinstance(e.event, ConfirmationGiven | ConfirmationDeclined | ConfirmationUnclear)
    ]
    assert [(x.type, x.text) for x in answers] == [("confirmation_given", "yes")]
    assert value(engine).writes == 1
    assert model_a.requests[-1].messages[-1].content == [
        {"type": "text", "text": "thanks, that's all"}
    ]
