"""Run a scenario on a fresh store with the scripted model and check its expectations."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.config import Settings
from agent.domain import Domain
from agent.gate.approvals import (
    ApprovalRow,
    Approver,
    QueueApprover,
    ScriptedApprover,
    Supervisor,
    scripted_roster,
)
from agent.loop import Agent, RunResult
from agent.model.scripted import ScriptedModel, ScriptError, ScriptStep
from agent.replay.own_store import claim_scratch, is_scratch
from agent.replay.scenario import Clock, Outcome, Scenario, ScenarioError, Turn, check
from agent.replay.scratch import scratch_store
from agent.runtime import build_agent, domain_policy, file_sha256
from agent.store.engine import make_engine, redacted_url
from agent.transcript.events import StoredEvent, load

Printer = Callable[[list[StoredEvent]], None]
STOPPED = " (the run stopped here: later turns and the final expectations were not checked)"


def script_steps(scenario: Scenario) -> list[ScriptStep]:
    """All scripted replies of the scenario, in order, with stable tool_use ids."""
    steps = []
    for t, turn in enumerate(scenario.turns, start=1):
        for r, reply in enumerate(turn.model, start=1):
            steps.append(
                ScriptStep(
                    content=reply.content(f"toolu_{t:02d}_{r:02d}"),
                    stop_reason=reply.stop(),
                    expect_in_request=reply.expect_in_request,
                )
            )
    return steps


def data_ref(scenario: Scenario) -> dict[str, Any]:
    """How to recreate the starting data: a demo seed, or a file with its hash."""
    if "file" in scenario.data:
        path = scenario.resolve(scenario.data["file"])
        return {"file": str(path), "sha256": file_sha256(path)}
    return {"demo_seed": int(scenario.data.get("demo_seed", 0))}


def seed(domain: Domain, engine: Engine, scenario: Scenario) -> None:
    """Load the scenario's starting data into an empty store; refuse a store with data."""
    with Session(engine) as session, session.begin():
        if any(domain.snapshot(session).values()):
            raise ScenarioError(
                f"{scenario.path}: the store {redacted_url(str(engine.url))} already holds "
                f"{domain.name} data (an earlier run?); a scenario starts from its own data: "
                "give a new --db file, or none for a scratch database"
            )
        if "file" in scenario.data:
            path = scenario.resolve(scenario.data["file"])
            if not path.exists():
                raise ScenarioError(f"{scenario.path}: field data.file: {path} does not exist")
            try:
                domain.import_file(session, path)
            except (ValueError, OSError) as exc:  # JSON and validation errors are ValueErrors
                first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                raise ScenarioError(
                    f"{scenario.path}: field data.file: {path} is not a usable "
                    f"{domain.name} data file: {first}"
                ) from exc
        else:
            domain.seed_demo(session, int(scenario.data.get("demo_seed", 0)))


def _decide_oldest(queue: QueueApprover, turn: Turn, cid: str, clock: Clock) -> None:
    assert turn.supervisor is not None
    if not is_scratch(queue.engine):
        raise ScenarioError("scripted supervisor decisions are accepted only in a scratch store")
    pending = [r for r in queue.list("pending") if r.conversation_id == cid]
    if not pending:
        raise ScenarioError("a supervisor turn found no pending approval request")
    row: ApprovalRow = pending[0]
    decision = turn.supervisor
    # A scripted supervisor is trusted only because this store is the scenario's own scratch.
    scripted = Supervisor(name=decision.by, roles=frozenset({decision.role}))
    queue.record(
        row.request_id,
        approved=decision.approved,
        supervisor=scripted,
        reason=decision.reason,
        now=clock(),
    )


def _play(
    agent: Agent, queue: QueueApprover | None, turn: Turn, cid: str, clock: Clock
) -> RunResult:
    clock.offset += timedelta(hours=turn.advance_hours)
    if turn.supervisor is not None:
        if queue is None:
            raise ScenarioError("supervisor turns need `approver: queue`")
        _decide_oldest(queue, turn, cid, clock)
    if turn.customer is not None:
        return agent.run(cid, turn.customer)
    return agent.resume(cid)


def run_scenario(
    scenario: Scenario,
    domain: Domain,
    settings: Settings,
    db_url: str | None = None,
    printer: Printer | None = None,
    policy: Path | None = None,
) -> Outcome:
    """Play every turn, print as it goes, and return the outcome with failed expectations.

    The policy is `policy`, else the configured one (SUPPORT_AGENT_POLICY, config file),
    else the scenario's, else the domain's. A `db_url` store must be empty or one that a
    regression tool made (NotScratch otherwise).
    """
    with tempfile.TemporaryDirectory(prefix="support-agent-") as tmp:
        given = db_url is not None
        if db_url is None:  # a scratch store: a copy of one seeded moments ago
            db_url = scratch_store(Path(tmp) / "scenario.db", _template_key(domain, scenario),
                                   lambda url: _seed_new(domain, url, scenario))  # fmt: skip
        engine = make_engine(db_url)
        try:
            claim_scratch(engine, domain, "support-agent run")
            if given:
                seed(domain, engine, scenario)
            chosen = policy or settings.policy_path
            if chosen is None and scenario.policy:
                chosen = scenario.resolve(scenario.policy)
            return _run(scenario, domain, settings, engine, printer, chosen)
        finally:
            engine.dispose()


def _seed_new(domain: Domain, url: str, scenario: Scenario) -> None:
    engine = make_engine(url)
    try:
        claim_scratch(engine, domain, "support-agent run")  # the template is a scratch store
        seed(domain, engine, scenario)
    finally:
        engine.dispose()


def _template_key(domain: Domain, scenario: Scenario) -> dict[str, object]:
    """What the starting data depends on: the domain and the data reference (file hash)."""
    return {"domain": f"{domain.name}:{id(domain)}", "data": data_ref(scenario)}


def _run(
    scenario: Scenario,
    domain: Domain,
    settings: Settings,
    engine: Engine,
    printer: Printer | None,
    policy_path: Path | None,
) -> Outcome:
    policy = domain_policy(domain, policy_path)
    scripted = [(d.by, d.role) for d in scenario.approvals]
    scripted += [(t.supervisor.by, t.supervisor.role) for t in scenario.turns if t.supervisor]
    settings = settings.model_copy(
        update={"approvers": scripted_roster(scripted, settings.approvers)}
    )
    model = ScriptedModel(script_steps(scenario), name=f"scenario {scenario.name}")
    clock = Clock()
    queue = QueueApprover(engine) if scenario.approver == "queue" else None
    approver: Approver = queue or ScriptedApprover(
        [d.model_dump(exclude_none=True) for d in scenario.approvals]
    )
    agent = build_agent(
        domain,
        settings,
        engine,
        model,
        approver=approver,
        policy=policy,
        clock=clock,
        data_ref=data_ref(scenario),
    )
    cid = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
    outcome = Outcome(events=[], snapshot={}, conversation_id=cid)
    expected_calls, seen, stopped = 0, 0, False
    for number, turn in enumerate(scenario.turns, start=1):
        expected_calls += len(turn.model)
        try:
            result = _play(agent, queue, turn, cid, clock)
        except ScriptError as exc:
            outcome.failures.append(f"turn {number}: {exc}{STOPPED}")
            result = None
        with Session(engine) as session:
            events = load(session, cid)
        if printer:
            printer(events[seen:])
        seen = len(events)
        if result is None:
            stopped = True
            break
        outcome.statuses.append(result.status)
        outcome.replies.append(result.reply)
        if model.position != expected_calls:
            # The script and the run are out of step: everything after this would fail
            # for the same reason, so report the root cause once and stop.
            outcome.failures.append(
                f"turn {number}: the model was called {model.position} times so far, "
                f"the script has {expected_calls} replies up to this turn{STOPPED}"
            )
            stopped = True
            break
        if turn.expect_status and result.status != turn.expect_status:
            outcome.failures.append(
                f"turn {number}: status expected {turn.expect_status}, "
                f"got {result.status} ({result.reason})"
            )
        outcome.failures += [
            f"turn {number}: reply does not contain {w!r}: {result.reply!r}"
            for w in turn.expect_reply_contains
            if w.lower() not in result.reply.lower()
        ]
    with Session(engine) as session:
        outcome.events = load(session, cid)
        outcome.snapshot = domain.snapshot(session)
    if not stopped:
        outcome.failures += check(scenario.expect, outcome)
    return outcome
