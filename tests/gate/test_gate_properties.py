"""Property tests: whatever the model, customer and supervisor do, writes stay guarded."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from agent.gate.approvals import ScriptedApprover
from agent.gate.gate import Gate
from agent.loop import Agent, Limits
from agent.model.client import AssistantMessage, ModelRequest, ModelResponse
from agent.store.engine import make_engine
from agent.store.tables import Execution
from agent.transcript.events import ApprovalDecided, ConfirmationGiven, ToolResulted, load
from tests.budget import examples
from tests.toy import ToyPolicy, ToyValue, registry

names = st.sampled_from(["a", "b", "", "missing"])
values = st.one_of(st.sampled_from([0, 5, 13, 501, 900, 2000, -1]), st.text(max_size=3))
set_args = st.fixed_dictionaries(
    {"name": names, "value": values}, optional={"extra": st.integers()}
)
valid_set = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b"]), "value": st.sampled_from([5, 13, 900, 7])}
)
calls = st.one_of(
    st.tuples(st.just("set_value"), valid_set),
    st.tuples(st.just("set_value"), valid_set),
    st.tuples(st.just("set_value"), set_args),
    st.tuples(st.just("lookup"), st.fixed_dictionaries({"name": names})),
    st.tuples(st.just("login"), st.fixed_dictionaries({"who": st.sampled_from(["ann", "bob"])})),
    st.tuples(st.sampled_from(["nope", "set_valu"]), st.just({})),
    st.tuples(st.just("set_value"), st.one_of(st.none(), st.just([]), st.just("a"))),
)
# Few distinct ids, so ids repeat across replies (the API never does that; the gate must cope).
model_turns = st.lists(
    st.one_of(st.just(None), st.tuples(calls, st.integers(0, 3))), min_size=2, max_size=10
)
answers = st.lists(
    st.sampled_from(["yes", "yes", "no", "yes please", "nope", "Y", "maybe"]),
    min_size=2,
    max_size=8,
)
approvals = st.lists(
    st.fixed_dictionaries(
        {
            "approved": st.booleans(),
            "by": st.just("lee"),
            "role": st.sampled_from(["team-lead", "intern"]),
        },
        optional={"args_hash": st.just("f" * 64)},
    ),
    max_size=4,
)


@dataclass
class ChaosModel:
    """Replies from a generated list; text end_turn once it runs out."""

    turns: list[Any]
    sent: int = 0
    requests: list[ModelRequest] = field(default_factory=list)

    def respond(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        step = self.turns[self.sent] if self.sent < len(self.turns) else None
        self.sent += 1
        if step is None:
            message = AssistantMessage(
                content=[{"type": "text", "text": "ok"}], stop_reason="end_turn"
            )
        else:
            (name, args), tid = step
            message = AssistantMessage(
                content=[{"type": "tool_use", "id": f"t{tid}", "name": name, "input": args}],
                stop_reason="tool_use",
            )
        return ModelResponse(message=message)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=model_turns, said=answers, decided=approvals)
def test_no_write_without_a_yes_for_exactly_those_arguments(engine_template, turns, said, decided):
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(engine_template, Path(tmp) / "p.db")  # toy rows a=1, b=2
        engine = make_engine(f"sqlite:///{Path(tmp) / 'p.db'}")
        gate = Gate(engine, registry(), ToyPolicy(), approver=ScriptedApprover(list(decided)))
        agent = Agent(
            engine, ChaosModel(list(turns)), gate, "sys", Limits("m", 100, max_model_calls=6)
        )
        for text in said:
            agent.run("c", text)  # must never raise
        with Session(engine) as s:
            events = [e.event for e in load(s, "c")]
            runs = s.exec(select(Execution).where(Execution.tool == "set_value")).all()
            writes = sum(v.writes for v in s.exec(select(ToyValue)).all())
        engine.dispose()
    executed = [e for e in events if isinstance(e, ToolResulted) and e.executed]
    assert max(Counter(e.tool_use_id for e in executed).values(), default=0) <= 1
    ok_runs = [r for r in runs if not r.is_error]
    event(f"executed writes: {min(len(ok_runs), 2)}")
    assert writes == len(ok_runs)  # each executed write changed the data exactly once
    for run in ok_runs:
        assert any(
            isinstance(e, ConfirmationGiven)
            and e.tool_use_id == run.tool_use_id
            and e.args_hash == run.args_hash
            for e in events
        )
        approved = [
            e
            for e in events
            if isinstance(e, ApprovalDecided) and e.tool_use_id == run.tool_use_id and e.approved
        ]
        value = next(
            e
            for e in events
            if isinstance(e, ToolResulted) and e.executed and e.tool_use_id == run.tool_use_id
        )
        if '"value": 13' in value.content:
            raise AssertionError("a denied value was written")
        if any(f'"value": {v}' in value.content for v in (501, 900, 2000)):
            assert approved and all(
                a.args_hash == run.args_hash and a.role == "team-lead" for a in approved
            )
