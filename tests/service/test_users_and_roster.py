"""`support-agent users`, the merged approver roster, the verified customer of a conversation."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agent.cli.app import app
from agent.config import Settings
from agent.service.roster import service_roster
from agent.service.users import ServiceUser, add_user, authenticate, revoke_user
from tests.service.conftest import shop_agent

runner = CliRunner()


def test_users_add_prints_the_token_once_and_list_never_shows_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 'u.db'}"
    added = runner.invoke(app, ["users", "add", "lee", "--role", "team-lead", "--db", db])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("sat_")
    listed = runner.invoke(app, ["users", "list", "--json", "--db", db])
    assert '"name": "lee"' in listed.output and '"team-lead"' in listed.output
    assert token not in listed.output
    twice = runner.invoke(app, ["users", "add", "lee", "--db", db])
    assert twice.exit_code == 2 and "exists" in twice.output
    bad = runner.invoke(app, ["users", "add", "x", "--kind", "root", "--db", db])
    assert bad.exit_code == 2 and "unknown kind" in bad.output
    assert runner.invoke(app, ["users", "revoke", "lee", "--db", db]).exit_code == 0
    assert runner.invoke(app, ["users", "revoke", "lee", "--db", db]).exit_code == 2
    assert '"revoked": true' in runner.invoke(app, ["users", "list", "--json", "--db", db]).output


def test_serve_and_worker_need_the_api_key_and_sqlite_runs_one_job_at_a_time(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 's.db'}"
    served = runner.invoke(app, ["serve", "--db", db])
    assert served.exit_code == 2 and "ANTHROPIC_API_KEY" in served.output
    many = runner.invoke(app, ["worker", "--concurrency", "3", "--db", db])
    assert many.exit_code == 2 and "SQLite" in many.output


def test_roster_merges_config_approvers_with_active_service_users(shop):
    add_user(shop, "lee", "supervisor", ["team-lead"])
    add_user(shop, "kim", "supervisor", ["agent"])
    add_user(shop, "helpdesk", "app", ["team-lead"])  # an app never approves
    roster = service_roster(Settings(approvers={"kim": ["team-lead"], "ana": ["x"]}), shop)
    assert dict(roster) == {"kim": ["agent", "team-lead"], "ana": ["x"], "lee": ["team-lead"]}
    revoke_user(shop, "lee")
    assert "lee" not in roster  # read afresh: a revoked supervisor is out at once


def test_an_approval_by_a_revoked_supervisor_fails_closed_at_resume(shop):
    from agent.gate.approvals import QueueApprover, Supervisor

    add_user(shop, "lee", "supervisor", ["team-lead"])
    agent = shop_agent(shop)
    agent.run("c", "refund $600 on order #1001", customer_id="cus_mia")
    rid = agent.run("c", "yes").awaiting[0]
    lead = Supervisor("lee", frozenset({"team-lead"}))
    QueueApprover(shop).record(rid, approved=True, supervisor=lead, reason="ok")
    revoke_user(shop, "lee")
    result = shop_agent(shop).resume("c")
    assert "did not go through" in result.reply and "does not hold the role" in result.reply


def test_tokens_are_random_and_only_their_hash_is_kept(shop):
    first = add_user(shop, "a", "app", [])
    second = add_user(shop, "b", "app", [])
    assert first != second and len(first) > 40
    caller = authenticate(shop, first)
    assert caller is not None and (caller.name, caller.kind) == ("a", "app")
    assert authenticate(shop, first[:-1] + "x") is None
    with Session(shop) as session:
        assert all(first not in u.token_sha256 for u in session.exec(select(ServiceUser)).all())


def test_verified_customer_is_fixed_for_the_conversation(shop):
    agent = shop_agent(shop)
    assert agent.run("v", "hello", customer_id="cus_mia").status == "done"
    assert agent.state("v").customer_id == "cus_mia"
    with pytest.raises(ValueError, match="another or no verified customer"):
        agent.run("v", "hello", customer_id="cus_other")
    assert agent.run("v", "hello again").status == "done"  # no id: stays the verified one
