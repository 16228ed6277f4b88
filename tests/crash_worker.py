"""A resumable worker for the crash tests, the audit of its store, and the driver that kills it.

`python -m tests.crash_worker URL N SEED` runs N toy conversations (one ToyValue row each,
a scripted set_value, a scripted customer answer and team-lead decision) against the SQLite
file at URL. It can be SIGKILLed anywhere: the next run reads each conversation's events
and continues from where the last one stopped. The plan of every conversation depends only
on SEED and its index, so what the store must hold at the end is known in advance.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.gate.approvals import ApprovalDecision, ApprovalRequest, ScriptedApprover
from agent.gate.gate import Gate
from agent.loop import Agent, Limits
from agent.model.client import ModelRequest, ModelResponse
from agent.model.scripted import ScriptedModel
from agent.registry import ToolContext, ToolRegistry, args_hash
from agent.store.engine import make_engine
from agent.store.lease import Lease
from agent.store.tables import Event, Execution
from agent.transcript.events import (
    ApprovalDecided,
    ConfirmationGiven,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolResulted,
    load,
)
from agent.transcript.state import derive
from tests.toy import TOOLS, ToyPolicy, ToyValue, registry
from tests.workers import text_step, tool_step

ROOT = Path(__file__).resolve().parent.parent
APPROVE_ABOVE = ToyPolicy().approve_above
JITTER = random.Random()  # where kills land may vary; what the store must hold may not

Action = Literal["start", "answer", "resume", "done"]


@dataclass(frozen=True)
class Plan:
    """One conversation: the value the model sets, the customer's answer, the lead's answer."""

    index: int
    value: int
    answer: Literal["yes", "no"]
    lead_approves: bool

    @property
    def cid(self) -> str:
        """The conversation id."""
        return f"crash-{self.index:04d}"

    @property
    def row(self) -> str:
        """The ToyValue row this conversation writes."""
        return f"row-{self.index:04d}"

    @property
    def tool_use_id(self) -> str:
        """The id of the scripted set_value call."""
        return f"toolu_{self.index:04d}"

    @property
    def needs_approval(self) -> bool:
        """The toy policy sends values above its threshold to a team lead."""
        return self.value > APPROVE_ABOVE

    @property
    def asks_customer(self) -> bool:
        """13 is denied outright; every other write asks the customer first."""
        return self.value != 13

    @property
    def writes(self) -> int:
        """How many times the write must be applied: 1 or 0."""
        ok = self.asks_customer and self.answer == "yes"
        return int(ok and (self.lead_approves or not self.needs_approval))

    @property
    def args_hash(self) -> str:
        """The hash a confirmation or approval of this write is bound to."""
        return args_hash("set_value", {"name": self.row, "value": self.value})


def plan(seed: int, index: int) -> Plan:
    """The deterministic plan of conversation `index` under `seed`."""
    rng = random.Random(f"{seed}:{index}")
    kind = rng.random()
    if kind < 0.06:
        value = 13
    elif kind < 0.4:
        value = rng.randint(APPROVE_ABOVE + 1, 1000)
    else:
        value = rng.choice([v for v in range(1, APPROVE_ABOVE + 1) if v != 13])
    answer: Literal["yes", "no"] = "yes" if rng.random() < 0.75 else "no"
    return Plan(index, value, answer, lead_approves=rng.random() < 0.6)


def _jitter() -> None:
    """Sleep a few ms so that kills also land inside transactions and between events."""
    time.sleep(JITTER.uniform(0.0, 0.004))


def _slow_set_value(ctx: ToolContext, args: Any) -> Any:
    """tests.toy.set_value with pauses inside the execute_once transaction."""
    _jitter()
    out = _SET_VALUE.fn(ctx, args)
    _jitter()
    return out


_SET_VALUE = next(t for t in TOOLS if t.name == "set_value")


@dataclass
class SlowModel:
    """A ScriptedModel that takes a few ms, so kills land between request and response."""

    inner: ScriptedModel

    def respond(self, request: ModelRequest) -> ModelResponse:
        """The next scripted reply, after a pause."""
        _jitter()
        return self.inner.respond(request)


@dataclass
class SlowApprover:
    """A ScriptedApprover that takes a few ms, so kills land between request and decision."""

    inner: ScriptedApprover

    def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The scripted decision, after a pause."""
        _jitter()
        return self.inner.decide(request)


def crash_registry() -> ToolRegistry:
    """The toy registry with a set_value that pauses inside its transaction."""
    toy = registry()
    tools = [replace(t, fn=_slow_set_value) if t.name == "set_value" else t for t in TOOLS]
    return ToolRegistry.of(tools, facts=toy.facts)


def make_agent(engine: Engine, p: Plan, consumed: int) -> Agent:
    """An agent whose script starts after the `consumed` replies already in the log."""
    steps = [
        tool_step("set_value", {"name": p.row, "value": p.value}, p.tool_use_id),
        text_step("All set." if p.writes else "Nothing was changed."),
    ]
    model = ScriptedModel(steps, name=p.cid, position=consumed)
    lead = {"approved": p.lead_approves, "by": "lee", "reason": "scripted"}
    approver = ScriptedApprover([dict(lead) for _ in range(3)])
    gate = Gate(engine, crash_registry(), ToyPolicy(), approver=SlowApprover(approver))
    lease = Lease(engine, ttl=0.5, wait=10)
    limits = Limits("scripted", 100)
    return Agent(engine, SlowModel(model), gate, "crash test", limits, lease=lease)


def next_action(events: list[StoredEvent]) -> Action:
    """What to do with a conversation, judged from its log alone."""
    if not events:
        return "start"
    last = events[-1].event
    if not isinstance(last, RunFinished):
        return "resume"  # a run was cut short: finish it before the customer speaks again
    state = derive(events)
    if any(
        b.id in state.confirmation_asked and b.id not in state.confirmations for b in state.pending
    ):
        return "answer"
    return "resume" if state.pending else "done"


def drive(engine: Engine, p: Plan) -> None:
    """Take one conversation from wherever its log says to its end."""
    with Session(engine) as session, session.begin():
        if session.get(ToyValue, p.row) is None:
            session.add(ToyValue(name=p.row, value=0))
    for _ in range(8):
        with Session(engine) as session:
            events = load(session, p.cid)
        action = next_action(events)
        if action == "done":
            return
        consumed = sum(isinstance(e.event, ModelResponded) for e in events)
        agent = make_agent(engine, p, consumed)
        if action == "start":
            agent.run(p.cid, f"Please set {p.row} to {p.value}.")
        elif action == "answer":
            agent.run(p.cid, p.answer)
        else:
            agent.resume(p.cid)
    raise RuntimeError(f"{p.cid} did not finish in 8 steps")


def main(argv: list[str]) -> int:
    """Entry point: URL N SEED."""
    url, count, seed = argv[0], int(argv[1]), int(argv[2])
    engine = make_engine(url)
    print("ready", flush=True)
    for index in range(count):
        drive(engine, plan(seed, index))
    engine.dispose()
    print("finished", flush=True)
    return 0


# ---- the parent side: kill the worker, then audit the store ----


def spawn(url: str, count: int, seed: int, stderr: TextIO) -> subprocess.Popen[str]:
    """Start a worker and wait until it has imported everything and opened the store."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", url, str(count), str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready" (or "" if it died first; wait() will tell)
    return proc


def kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL the worker after `delay` seconds; False if it had already finished."""
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    if code not in (0, -signal.SIGKILL):
        raise RuntimeError(f"crash worker exited with {code}")
    return killed


def run_killed(
    url: str,
    count: int,
    seed: int,
    kills: int,
    delay: Callable[[], float],
    stderr: TextIO,
    on_kill: Callable[[], None] | None = None,
) -> int:
    """Kill workers until `kills` kills landed or one finished, then run one to the end.

    Returns the number of kills that landed.
    """
    landed = 0
    while landed < kills:
        if not kill_after(spawn(url, count, seed, stderr), delay()):
            return landed
        landed += 1
        if on_kill is not None:
            on_kill()
    proc = spawn(url, count, seed, stderr)
    try:
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # timed out: leave no worker behind
            proc.kill()
            proc.wait()
    if code != 0:
        raise RuntimeError(f"the final crash worker exited with {code}")
    return landed


@dataclass
class Audit:
    """What the store holds after the kills, against what the plans say it must hold."""

    expected_writes: int = 0
    writes_once: int = 0
    duplicates: int = 0
    lost_events: int = 0
    unapproved: int = 0
    problems: list[str] = field(default_factory=list)


def _authorised(events: list[StoredEvent], upto: int, p: Plan, digest: str) -> bool:
    """A yes (and a lead's approval when needed) for `digest` precedes event `upto`."""
    before = [e.event for e in events if e.seq < upto]
    yes = any(isinstance(e, ConfirmationGiven) and e.args_hash == digest for e in before)
    lead = any(
        isinstance(e, ApprovalDecided) and e.approved and e.args_hash == digest for e in before
    )
    return yes and (lead or not p.needs_approval)


def audit_one(session: Session, p: Plan, out: Audit) -> None:
    """Check one conversation's row, ledger and log; add what is wrong to `out`."""
    events = load(session, p.cid)
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        out.lost_events += (max(seqs) - len(seqs)) or 1
        out.problems.append(f"{p.cid}: event seqs not contiguous: {seqs}")
    ledger = session.exec(select(Execution).where(Execution.conversation_id == p.cid)).all()
    if len({r.tool_use_id for r in ledger}) != len(ledger) or len(ledger) > 1:
        out.problems.append(f"{p.cid}: ledger rows {[r.tool_use_id for r in ledger]}")
    digests = {r.tool_use_id: r.args_hash for r in ledger}
    executed = [e for e in events if isinstance(e.event, ToolResulted) and e.event.executed]
    bad = False
    for e in executed:
        assert isinstance(e.event, ToolResulted)
        digest = digests.get(e.event.tool_use_id)
        if digest is None or not _authorised(events, e.seq, p, digest):
            bad = True
            out.problems.append(f"{p.cid}: executed result at seq {e.seq} without yes/approval")
    row = session.get(ToyValue, p.row)
    writes = row.writes if row is not None else 0
    if writes and not p.writes:
        bad = True
    if writes > 1:
        out.duplicates += 1
    out.unapproved += bad
    want_value = p.value if p.writes else 0
    if writes != p.writes or row is None or row.value != want_value:
        out.problems.append(f"{p.cid}: writes={writes} value={row and row.value}, plan {p}")
    elif p.writes:
        out.writes_once += 1
    if len(executed) != writes or len([r for r in ledger if not r.is_error]) != writes:
        out.problems.append(f"{p.cid}: {writes} writes, {len(executed)} results, ledger {ledger}")
    last = events[-1].event if events else None
    if not (isinstance(last, RunFinished) and last.status == "done"):
        out.problems.append(f"{p.cid}: did not finish: last event {last!r}")
    replies = sum(isinstance(e.event, ModelResponded) for e in events)
    if replies != 2:
        out.problems.append(f"{p.cid}: {replies} model replies recorded, the script has 2")


def audit(url: str, count: int, seed: int) -> Audit:
    """Audit every conversation of a finished run."""
    engine = make_engine(url)
    out = Audit()
    with Session(engine) as session:
        for index in range(count):
            p = plan(seed, index)
            out.expected_writes += p.writes
            audit_one(session, p, out)
        strays = session.exec(
            select(Event.conversation_id).where(col(Event.conversation_id).notlike("crash-%"))
        ).first()
        if strays is not None:
            out.problems.append(f"events of an unplanned conversation {strays}")
    engine.dispose()
    return out


def last_event_type(url: str) -> str:
    """The type of the newest event in the store (where a kill landed, roughly)."""
    engine = make_engine(url)
    with Session(engine) as session:
        row = session.exec(select(Event).order_by(col(Event.id).desc())).first()
    engine.dispose()
    return row.type if row is not None else "(none)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
