"""Supervisors are authenticated: roles from the roster, checked when the decision is made."""

from __future__ import annotations

import getpass
from datetime import timedelta

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from agent.clock import utcnow
from agent.gate.approvals import (
    ApprovalRequest,
    ApprovalRow,
    ConsoleApprover,
    QueueApprover,
    Supervisor,
    supervisor_from_roster,
)
from tests.approvals import approval_request

LEE = Supervisor(name="lee", roles=frozenset({"team-lead"}))
SAM = Supervisor(name="sam", roles=frozenset({"agent"}))


def request(hours: float = 1, role: str = "team-lead") -> ApprovalRequest:
    return approval_request(hours, role=role)


def status(engine) -> str:
    with Session(engine) as session:
        row = session.get(ApprovalRow, "apr_1")
        assert row is not None
        return row.status


@pytest.mark.parametrize("roster", [None, {}])
def test_no_roster_means_nobody_can_approve(roster):
    with pytest.raises(PermissionError, match=r"\[approvers\]"):
        supervisor_from_roster("lee", roster)


def test_roster_gives_the_roles():
    assert supervisor_from_roster("lee", {"lee": ["team-lead"]}) == LEE
    with pytest.raises(PermissionError, match="not in the \\[approvers\\] table"):
        supervisor_from_roster("mallory", {"lee": ["team-lead"]})


def test_wrong_role_is_refused_and_the_request_stays_pending(engine):
    queue = QueueApprover(engine)
    queue.decide(request())
    with pytest.raises(PermissionError, match="does not hold the role 'team-lead'"):
        queue.record("apr_1", approved=True, supervisor=SAM, reason="")
    assert status(engine) == "pending"
    row = queue.record("apr_1", approved=True, supervisor=LEE, reason="fine")
    assert row.status == "approved" and row.decision is not None
    assert (row.decision["by"], row.decision["role"]) == ("lee", "team-lead")


def test_expired_request_is_stored_expired_before_refusing(engine):
    queue = QueueApprover(engine)
    queue.decide(request())
    later = utcnow() + timedelta(hours=2)
    with pytest.raises(ValueError, match="expired"):
        queue.record("apr_1", approved=True, supervisor=LEE, reason="", now=later)
    assert status(engine) == "expired"


def test_denial_needs_a_reason(engine):
    queue = QueueApprover(engine)
    queue.decide(request())
    with pytest.raises(ValueError, match="reason"):
        queue.record("apr_1", approved=False, supervisor=LEE, reason=" ")
    assert status(engine) == "pending"


def test_console_approver_hands_a_foreign_role_to_the_queue(engine):
    shown: list[str] = []

    def never(prompt: str) -> str:
        raise AssertionError("asked a supervisor without the role")

    console = ConsoleApprover(SAM, never, shown.append, fallback=QueueApprover(engine))
    assert console.decide(request()) is None
    assert status(engine) == "pending" and "does not hold" in shown[0]


def test_console_approver_decides_with_the_requests_role():
    answers = iter(["y", "ok"])
    console = ConsoleApprover(LEE, lambda _: next(answers), lambda _: None)
    decision = console.decide(request())
    assert decision is not None and decision.approved
    assert (decision.by, decision.role) == ("lee", "team-lead")


def test_chat_supervisor_must_be_the_os_user(monkeypatch, tmp_path):
    from agent.cli import app as cli

    config = tmp_path / "support-agent.toml"
    config.write_text('[approvers]\nlee = ["team-lead"]\n')
    monkeypatch.setenv("SUPPORT_AGENT_CONFIG", str(config))
    monkeypatch.setattr(getpass, "getuser", lambda: "sam")
    result = CliRunner().invoke(cli.app, ["chat", "--supervisor", "lee"])
    assert result.exit_code == 2 and "must be you" in result.output
    monkeypatch.setattr(getpass, "getuser", lambda: "lee")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = CliRunner().invoke(cli.app, ["chat", "--supervisor", "lee"])
    assert result.exit_code == 2 and "ANTHROPIC_API_KEY" in result.output  # got past the roster


@pytest.mark.parametrize(
    ("approvers", "after"), [(None, 1), ({"sam": ["agent"]}, 1), ({"sam": ["team-lead"]}, 900)]
)
def test_a_decision_planted_in_the_store_does_not_hold_without_a_roster_entry(
    engine, approvers, after
):
    """Resume re-checks the decider against the roster: no roster or no role, no write."""
    from sqlmodel import select

    from agent.config import Settings
    from agent.model.scripted import ScriptedModel
    from agent.runtime import build_agent
    from tests.test_loop import call, text, value
    from tests.toy_domain import DOMAIN

    settings = Settings(approvers=approvers)
    model = ScriptedModel(
        [call("set_value", {"name": "a", "value": 900}, "t1"), text("not done"), text("x")]
    )
    agent = build_agent(DOMAIN, settings, engine, model, approver=QueueApprover(engine))
    agent.run("c1", "set a to 900")
    paused = agent.run("c1", "yes")
    assert paused.status == "paused" and paused.reason == "approval"
    with Session(engine) as session, session.begin():  # written straight into the store
        row = session.exec(select(ApprovalRow)).one()
        request = ApprovalRequest.model_validate(row.request)
        row.decision = {
            "request_id": row.request_id,
            "args_hash": request.args_hash,
            "approved": True,
            "by": "sam",
            "role": request.role,
            "reason": "trust me",
        }
        row.status = "approved"
        session.add(row)
    agent.resume("c1")
    assert value(engine).value == after
