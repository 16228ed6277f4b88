"""The workload of bench.turn_overhead: the scripted conversation, stores, counters, runs."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.config import Settings
from agent.gate.policy import Policy
from agent.model.scripted import ScriptedModel, ScriptStep
from agent.registry import ToolContext
from agent.runtime import build_agent, domain_policy
from agent.store.engine import is_reader, make_engine
from agent.transcript.events import GateDecided, RunStatus, load
from bench.bare_loop import BareLoop
from tools.retail import DOMAIN, demo_fixtures, seed_demo
from tools.retail.tables import RetailOrder, RetailUser
from tools.retail.transfer import import_retail

PG_ENV = "SUPPORT_AGENT_TEST_PG_URL"
SETTINGS = Settings()
_POLICY: list[Policy] = []


def policy() -> Policy:
    """The retail policy, loaded once (building an Agent is not what is measured)."""
    if not _POLICY:
        _POLICY.append(domain_policy(DOMAIN, SETTINGS.policy_path))
    return _POLICY[0]


@dataclass(frozen=True)
class Plan:
    """Whose pending order one conversation cancels."""

    email: str
    user_id: str
    order_id: str


@dataclass(frozen=True)
class CustomerTurn:
    """What the customer says, what the model answers, and how the turn must end."""

    text: str
    replies: list[ScriptStep]
    status: RunStatus


def _tool(tid: str, name: str, args: dict[str, Any], say: str = "") -> ScriptStep:
    text = [{"type": "text", "text": say}] if say else []
    use = {"type": "tool_use", "id": tid, "name": name, "input": args}
    return ScriptStep(content=[*text, use], stop_reason="tool_use")


def _say(text: str, expect: list[str] | None = None) -> ScriptStep:
    return ScriptStep(content=[{"type": "text", "text": text}], expect_in_request=expect or [])


def conversation(plan: Plan) -> list[CustomerTurn]:
    """Authenticate, read the order, cancel it after a yes, reply: five model calls."""
    order, reason = plan.order_id, "no longer needed"
    find = _tool("toolu_01", "find_user_id_by_email", {"email": plan.email}, "Let me look.")
    read = _tool("toolu_02", "get_order_details", {"order_id": order})
    read.expect_in_request.append(plan.user_id)
    cancel = _tool("toolu_03", "cancel_pending_order", {"order_id": order, "reason": reason})
    return [
        CustomerTurn(
            f"Hi, I'd like to cancel an order I placed. My email is {plan.email}.",
            [find, read, _say(f"Order {order} is pending. Which reason should I record?")],
            "done",
        ),
        CustomerTurn("No longer needed, please cancel it.", [cancel], "paused"),
        CustomerTurn(
            "yes", [_say(f"Order {order} is cancelled.", ['"status": "cancelled"'])], "done"
        ),
    ]


def model_calls(plan: Plan) -> int:
    """Model calls per conversation."""
    return sum(len(turn.replies) for turn in conversation(plan))


def script(plan: Plan) -> ScriptedModel:
    """A scripted model serving the whole conversation."""
    return ScriptedModel([r for turn in conversation(plan) for r in turn.replies], name="bench")


def seed(session: Session, retail: Path | None = None) -> None:
    """The retail data: imported from a JSON document, else the demo store (seed 0)."""
    if retail is None:
        seed_demo(session, 0)
    else:
        import_retail(session, retail)


def seed_template(path: Path, retail: Path | None = None) -> None:
    """A seeded SQLite file (see seed), checkpointed so a plain copy is a whole store."""
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session, session.begin():
        seed(session, retail)
    engine.dispose()  # the last connection checkpoints and removes the WAL


def sqlite_copy(template: Path, path: Path) -> Engine:
    """An engine on a fresh copy of the template."""
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


def _yes_clears(session: Session, plan: Plan, earlier: int) -> bool:
    """Whether the customer's yes alone clears this cancellation after `earlier` ones."""
    tool = DOMAIN.registry.tools["cancel_pending_order"]
    args = tool.input_model(order_id=plan.order_id, reason="no longer needed")
    ctx = ToolContext(session, "plan", plan.user_id, (plan.email,))
    facts = DOMAIN.registry.facts_for(ctx, tool, args)
    facts["refunds_last_30_days"] += earlier  # the bench's own cancellations come first
    verdict = policy().evaluate(tool.name, tool.effect, args.model_dump(mode="json"), facts)
    return verdict.verdict == "confirm"


def plans(engine: Engine) -> list[Plan]:
    """Pending orders that a yes alone cancels, the fixture customer's first.

    Each cancellation counts towards the customer's recent refunds, which the policy
    sends to a team lead from some number on: a customer's next order is only taken
    while the policy would still clear it after the ones taken before.
    """
    with Session(engine) as session:
        try:  # the demo store's fixture customer first; an imported store has none
            fx = demo_fixtures(session)
            found = [Plan(fx.email, fx.customer_id, fx.pending_order_id)]
        except LookupError:
            found = []
        query = (
            select(col(RetailOrder.order_id), col(RetailUser.user_id), col(RetailUser.email))
            .join(RetailUser, col(RetailUser.user_id) == col(RetailOrder.user_id))
            .where(col(RetailOrder.status) == "pending")
            .order_by(col(RetailOrder.seq))
        )
        found += [Plan(e, u, o) for o, u, e in session.execute(query).all()]
        emails = session.execute(
            select(func.lower(RetailUser.email), func.count()).group_by(
                func.lower(RetailUser.email)
            )
        ).all()
        unique = {email for email, count in emails if count == 1}
        taken: dict[str, int] = {}
        result: list[Plan] = []
        for plan in found:
            if plan.order_id in {p.order_id for p in result} or plan.email.lower() not in unique:
                continue
            if _yes_clears(session, plan, taken.get(plan.user_id, 0)):
                taken[plan.user_id] = taken.get(plan.user_id, 0) + 1
                result.append(plan)
    return result


@dataclass
class Counter:
    """Transactions, commits and statements on engines while `active`, per model turn."""

    active: bool = False
    turns: int = 0
    transactions: int = 0
    commits: int = 0
    reads: int = 0
    writes: int = 0
    lease: int = 0
    cpu: float = 0.0  # process CPU seconds while active

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.turns = self.transactions = self.commits = 0
        self.reads = self.writes = self.lease = 0
        self.cpu = 0.0

    def attach(self, engine: Engine) -> None:
        """Count on this engine (and its read-only variant, which shares its events)."""
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, _conn: Any) -> None:
        self.transactions += self.active

    def _commit(self, conn: Any) -> None:
        self.commits += self.active and not is_reader(conn)  # a reader's COMMIT writes nothing

    def _statement(self, _c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if not self.active:
            return
        verb = sql.lstrip().split(" ", 1)[0].upper()
        self.reads += verb == "SELECT"
        self.writes += verb in ("INSERT", "UPDATE", "DELETE")
        self.lease += verb == "UPDATE" and "lease_owner" in sql

    def per_turn(self, *, cpu: bool = True) -> str:
        """Each count divided by the model turns (and the CPU, with `cpu`), for printing."""
        n = max(self.turns, 1)
        counted = (
            f"per model turn: {self.commits / n:.2f} commits, {self.transactions / n:.2f} "
            f"transactions, {self.reads / n:.2f} SELECTs, {self.writes / n:.2f} writes "
            f"({self.lease / n:.2f} on the lease)"
        )
        return f"{counted}, {self.cpu / n * 1000:.2f} ms CPU" if cpu else counted


def _cancelled(engine: Engine, order_id: str) -> None:
    with Session(engine) as session:
        order = session.get(RetailOrder, order_id)
        if order is None or order.status != "cancelled":
            raise RuntimeError(f"the conversation did not cancel {order_id}")


def _timed(engine: Engine, plan: Plan, counter: Counter, turn: Callable[[str], RunStatus]) -> float:
    """Seconds for all customer turns (counted), after checking each ended as planned."""
    counter.active, began, cpu = True, time.perf_counter(), time.process_time()
    try:
        for planned in conversation(plan):
            status = turn(planned.text)
            if status != planned.status:
                raise RuntimeError(f"{planned.text!r} ended {status}, not {planned.status}")
    finally:
        seconds, counter.active = time.perf_counter() - began, False
        counter.cpu += time.process_time() - cpu
    counter.turns += model_calls(plan)
    _cancelled(engine, plan.order_id)
    return seconds


def agent_conversation(
    engine: Engine, plan: Plan, cid: str, counter: Counter, _: dict[str, GateDecided]
) -> tuple[float, int]:
    """The conversation driven by the Agent; (seconds, model turns)."""
    agent = build_agent(DOMAIN, SETTINGS, engine, script(plan), policy=policy())
    return _timed(engine, plan, counter, lambda text: agent.run(cid, text).status), model_calls(
        plan
    )


def bare_conversation(
    engine: Engine, plan: Plan, cid: str, counter: Counter, decisions: dict[str, GateDecided]
) -> tuple[float, int]:
    """The conversation driven by the bare loop; (seconds, model turns)."""
    loop = BareLoop(engine, DOMAIN, script(plan), cid, decisions, SETTINGS.model)
    return _timed(engine, plan, counter, lambda text: loop.run(text)[0]), model_calls(plan)


def _event_types(engine: Engine, cid: str) -> list[str]:
    with Session(engine) as session:
        return [stored.event.type for stored in load(session, cid)]


@dataclass
class Arena:
    """One engine for a whole run, on a file replaced by a fresh template copy before each use.

    Keeping the engine keeps its compiled-statement cache warm, as in a long-running
    process; replacing the file gives every conversation the same fresh data.
    """

    template: Path
    path: Path
    counter: Counter = field(default_factory=lambda: Counter())
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = sqlite_copy(self.template, self.path)
        self.counter.attach(self.engine)

    def fresh(self) -> Engine:
        """The engine, now on a fresh copy of the template (seeding is not timed)."""
        self.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)
        return self.engine


def reference_decisions(agent: Arena, bare: Arena, plan: Plan) -> dict[str, GateDecided]:
    """Run both sides once; the Agent's decisions, after checking both wrote the same events."""
    engine = agent.fresh()
    agent_conversation(engine, plan, "reference", agent.counter, {})
    with Session(engine) as session:
        events = [stored.event for stored in load(session, "reference")]
    decisions = {e.name: e for e in events if isinstance(e, GateDecided)}
    engine = bare.fresh()
    bare_conversation(engine, plan, "reference", bare.counter, decisions)
    agent_types = [e.type for e in events]
    bare_types = _event_types(engine, "reference")
    if agent_types != bare_types:
        raise RuntimeError(f"unfair comparison: agent wrote {agent_types}, bare {bare_types}")
    print(f"events per conversation: {len(agent_types)}, the same types in the same order")
    agent.counter.reset()
    bare.counter.reset()
    return decisions


@contextmanager
def sqlite_store(template: Path, path: Path) -> Iterator[Engine]:
    """A fresh copy of the template, disposed afterwards."""
    engine = sqlite_copy(template, path)
    try:
        yield engine
    finally:
        engine.dispose()
