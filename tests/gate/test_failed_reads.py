"""A read whose query fails, on SQLite and PostgreSQL: the model hears it, the turn goes on.

Reads run without a savepoint on PostgreSQL (store.contain); a failed statement there
dooms the step's transaction, which then runs again with savepoints. Nothing may be
lost or written twice on the way: not the model's reply staged with the step, not the
ledger row, not a write confirmed in the same step.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from typing import Any

from pydantic import BaseModel
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from agent.gate.gate import FACTS_UNAVAILABLE, Gate
from agent.loop import Agent, Limits
from agent.model.scripted import ScriptedModel
from agent.registry import Tool, ToolContext, ToolRegistry
from agent.store.tables import Execution
from agent.transcript.events import (
    AnyEvent,
    GateDecided,
    ModelResponded,
    ToolCalled,
    ToolResulted,
    load,
)
from tests.toy import TOOLS, ToyPolicy, ToyValue
from tests.workers import text_step, tool_step

FAILING = "SELECT nothing FROM no_such_table"


class NoInput(BaseModel):
    """No arguments."""


def broken_read(ctx: ToolContext, _: NoInput) -> Any:
    ctx.session.exec(text(FAILING))  # type: ignore[call-overload]
    return "unreachable"


def swallowing_read(ctx: ToolContext, _: NoInput) -> Any:
    with suppress(DBAPIError):  # "handled": the transaction failed all the same
        ctx.session.exec(text(FAILING))  # type: ignore[call-overload]
    return "all fine"


def _registry(facts: Any = None) -> ToolRegistry:
    extra = [
        Tool("broken_read", "A read whose query fails.", NoInput, "read", broken_read),
        Tool("swallowing_read", "A read that hides a failure.", NoInput, "read", swallowing_read),
    ]
    default = lambda ctx, tool, args: {"customer": ctx.customer_id}  # noqa: E731
    return ToolRegistry.of([*TOOLS, *extra], facts=facts or default)


def _run(engine: Engine, reg: ToolRegistry, steps: list[Any], *texts: str) -> list[AnyEvent]:
    agent = Agent(engine, ScriptedModel(steps), Gate(engine, reg, ToyPolicy()), "s", Limits("m", 9))
    for said in texts:
        agent.run("c", said)
    with Session(engine) as session:
        return [stored.event for stored in load(session, "c")]


def _results(events: list[AnyEvent]) -> dict[str, ToolResulted]:
    found: dict[str, ToolResulted] = {}
    for e in events:
        if isinstance(e, ToolResulted):
            assert e.tool_use_id not in found, f"{e.tool_use_id} answered twice"
            found[e.tool_use_id] = e
    return found


def test_a_read_whose_query_fails_is_an_error_the_model_reads(toy_store: Engine) -> None:
    savepoints: list[str] = []
    event.listen(toy_store, "savepoint", lambda _conn, name: savepoints.append(name))
    steps = [
        tool_step("broken_read", {}, "t1"),
        tool_step("lookup", {"name": "a"}, "t2"),
        text_step("a is 1"),
    ]
    events = _run(toy_store, _registry(), steps, "what is a?")
    results = _results(events)
    assert results["t1"].is_error and "internal error in tool broken_read" in results["t1"].content
    assert not results["t2"].is_error and '"value": 1' in results["t2"].content
    assert sum(isinstance(e, ModelResponded) for e in events) == 3  # no reply lost
    assert [e.tool_use_id for e in events if isinstance(e, ToolCalled)] == ["t1", "t2"]
    with Session(toy_store) as session:
        ledger = session.exec(select(Execution.tool_use_id, Execution.is_error)).all()
    assert sorted(ledger) == [("t1", True), ("t2", False)]
    # Reads take no savepoint, but for the failed one's step when it runs again, careful:
    # one around the tool (the toy facts run no statement, so theirs is never sent).
    assert len(savepoints) == (1 if toy_store.dialect.name == "postgresql" else 0)


def test_a_read_that_hides_a_failed_query_is_still_an_error(toy_store: Engine) -> None:
    steps = [tool_step("swallowing_read", {}, "t1"), text_step("ok")]
    events = _run(toy_store, _registry(), steps, "check")
    result = _results(events)["t1"]
    if toy_store.dialect.name == "postgresql":  # its transaction failed: it cannot stand
        assert result.is_error and "internal error in tool swallowing_read" in result.content
    else:  # SQLite carries on after a failed statement: the tool's answer stands
        assert not result.is_error and result.content == "all fine"
    assert events[-1].type == "run_finished"


def test_failed_facts_deny_a_write_on_the_read_only_view(toy_store: Engine) -> None:
    def broken(ctx: ToolContext, *_: Any) -> dict[str, Any]:
        ctx.session.exec(text(FAILING))  # type: ignore[call-overload]
        return {}

    steps = [tool_step("set_value", {"name": "a", "value": 7}, "t1"), text_step("sorry")]
    events = _run(toy_store, _registry(broken), steps, "set a to 7")
    decision = next(e for e in events if isinstance(e, GateDecided))
    assert decision.verdict == "deny" and decision.rules == [FACTS_UNAVAILABLE]
    assert _results(events)["t1"].is_error
    with Session(toy_store) as session:
        assert session.get(ToyValue, "a").value == 1  # type: ignore[union-attr]


def test_a_failed_read_before_a_confirmed_write_loses_and_doubles_nothing(
    toy_store: Engine,
) -> None:
    """The reply holding both calls is written with the failed read's step, run again."""
    reply = _two_calls(("broken_read", {}, "t1"), ("set_value", {"name": "a", "value": 7}, "t2"))
    events = _run(toy_store, _registry(), [reply, text_step("done")], "set a to 7", "yes")
    results = _results(events)
    assert results["t1"].is_error and not results["t2"].is_error
    assert sum(isinstance(e, ModelResponded) for e in events) == 2
    with Session(toy_store) as session:
        row = session.get(ToyValue, "a")
        assert row is not None and (row.value, row.writes) == (7, 1)
        seqs = [stored.seq for stored in load(session, "c")]
        ledger = session.exec(select(Execution.tool_use_id)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert sorted(ledger) == ["t1", "t2"]


def _two_calls(*calls: tuple[str, dict[str, Any], str]) -> Any:
    step = tool_step(*calls[0])
    for name, args, tid in calls[1:]:
        step.content.append({"type": "tool_use", "id": tid, "name": name, "input": args})
    return step


def test_conversations_on_threads_each_run_again_alone(toy_store: Engine) -> None:
    """Eight conversations at once, each with a failed read and a confirmed write: each
    runs its own step again (the careful flag is per thread), each write runs once.

    (The toy write is a read-modify-write of one shared row, which READ COMMITTED lets
    race: its counter is not the point here, the ledger is.)"""

    reg, errors = _registry(), list[str]()

    def converse(cid: str) -> None:
        reply = _two_calls(
            ("broken_read", {}, "t1"), ("set_value", {"name": "a", "value": 7}, "t2")
        )
        model = ScriptedModel([reply, text_step("done")])
        agent = Agent(toy_store, model, Gate(toy_store, reg, ToyPolicy()), "s", Limits("m", 9))
        try:
            for said in ("set a to 7", "yes"):
                agent.run(cid, said)
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(f"{cid}: {exc!r}")

    threads = [threading.Thread(target=converse, args=(f"c{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(toy_store) as session:
        ran = session.exec(select(Execution.conversation_id).where(Execution.tool_use_id == "t2"))
        assert sorted(ran.all()) == sorted(f"c{i}" for i in range(8))  # each write once
        for i in range(8):
            events = [stored.event for stored in load(session, f"c{i}")]
            results = _results(events)
            assert results["t1"].is_error and not results["t2"].is_error
            seqs = [stored.seq for stored in load(session, f"c{i}")]
            assert seqs == list(range(1, len(seqs) + 1))
