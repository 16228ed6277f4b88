"""The `support-agent` command: exit codes, clear errors, no tracebacks, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import tools.retail  # noqa: F401  (registers the retail tables)
from agent.cli.app import app
from tests.cli.approvers import act_as

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_passing_scenario_exits_0():
    result = invoke("run", str(SCENARIOS / "cancel-with-confirmation.yaml"))
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and "confirm?" in result.output


def test_run_failed_expectation_exits_1_with_diff(tmp_path):
    text = (SCENARIOS / "cancel-with-confirmation.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("{status: cancelled,", "{status: delivered,"))
    result = invoke("run", str(broken))
    assert result.exit_code == 1
    assert 'db.orders.#W1001001.status: expected "delivered", got "cancelled"' in result.output


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("name: x\nturns: []\n", "field turns"),
        (
            "name: x\nturns:\n  - customer: hi\n    model: [{tool: 3}]\n",
            "field turns[0].model[0].tool",
        ),
        ("name: x\nturns:\n  - customer: hi\nexpect: {status: great}\n", "field expect.status"),
        ("name: [unclosed\n", "invalid YAML"),
        ("name: Bad Name\nturns: [{customer: hi}]\n", "field name"),
    ],
)
def test_invalid_scenario_exits_2_naming_file_and_field(tmp_path, content, where):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = invoke("run", str(path))
    assert result.exit_code == 2
    assert str(path) in result.output.replace("\n", "") and where in result.output
    assert "Traceback" not in result.output


def test_missing_scenario_file_exits_2(tmp_path):
    result = invoke("run", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_script_running_out_is_a_failure_not_a_crash(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(
        "name: short\nturns:\n  - customer: hi\n    model:\n"
        "      - {tool: list_all_product_types, input: {}}\n"
    )
    result = invoke("run", str(path))
    assert result.exit_code == 1
    output = result.output.replace("\n", " ")
    assert (
        "turn 1: scenario short: the model was called 2 times but the script has only 1" in output
    )
    assert "tool call list_all_product_types" in output


def test_chat_without_key_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = invoke("chat")
    assert result.exit_code == 2
    assert "ANTHROPIC_API_KEY" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_approvals_cli_round_trip(tmp_path, monkeypatch):
    """A paused large refund is listed, approved from the CLI, and can't be decided twice."""
    config = tmp_path / "support-agent.toml"
    config.write_text('[approvers]\nlee = ["team-lead"]\nkim = ["team-lead"]\n')
    monkeypatch.setenv("SUPPORT_AGENT_CONFIG", str(config))
    from agent.config import Settings
    from agent.gate.approvals import QueueApprover
    from agent.replay.scenario import load_scenario
    from agent.replay.scenario_run import run_scenario
    from agent.store.engine import make_engine
    from tools.retail import DOMAIN

    db = f"sqlite:///{tmp_path / 'q.db'}"
    scenario = load_scenario(SCENARIOS / "large-refund-approved.yaml")
    scenario.turns = scenario.turns[:2]  # stop while the request waits in the queue
    scenario.expect.status = "paused"
    scenario.expect.executed = None
    scenario.expect.db = None
    outcome = run_scenario(scenario, DOMAIN, Settings.load(), db_url=db)
    assert outcome.failures == []
    listed = invoke("approvals", "list", "--db", db, "--status", "pending", "--json")
    assert '"tool": "return_delivered_order_items"' in listed.output
    assert '"role": "team-lead"' in listed.output
    assert invoke("approvals", "list", "--db", db).exit_code == 0
    request_id = QueueApprover(make_engine(db)).list("pending")[0].request_id
    shown = invoke("approvals", "show", request_id, "--db", db)
    assert "refund_total" in shown.output
    act_as(monkeypatch, tmp_path, "lee", {"lee": ["team-lead"]})
    ok = invoke("approvals", "approve", request_id, "--db", db)
    assert ok.exit_code == 0 and "approved by lee (team-lead)" in ok.output
    cid = QueueApprover(make_engine(db)).list("approved")[0].conversation_id
    assert f"run `support-agent resume {cid} --db {db}` to continue" in ok.output
    again = invoke("approvals", "deny", request_id, "--reason", "no", "--db", db)
    assert again.exit_code == 2 and "already approved" in again.output
    unknown = invoke("approvals", "approve", "apr_nope", "--db", db)
    assert unknown.exit_code == 2


def test_approvals_cli_without_roster_names_the_config_table(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPORT_AGENT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke("approvals", "approve", "apr_1", "--db", str(tmp_path / "n.db"))
    assert result.exit_code == 2 and "[approvers]" in result.output


def test_transcript_show_and_export(tmp_path):
    from agent.config import Settings
    from agent.replay.scenario import load_scenario
    from agent.replay.scenario_run import run_scenario
    from tools.retail import DOMAIN

    db = f"sqlite:///{tmp_path / 't.db'}"
    outcome = run_scenario(
        load_scenario(SCENARIOS / "customer-declines.yaml"), DOMAIN, Settings.load(), db_url=db
    )
    cid = outcome.events[0].conversation_id
    shown = invoke("transcript", "show", cid, "--db", db)
    assert shown.exit_code == 0 and "declined" in shown.output
    out = tmp_path / "t.jsonl"
    exported = invoke("transcript", "export", cid, "--db", db, "-o", str(out))
    assert exported.exit_code == 0
    lines = out.read_text().splitlines()
    assert '"format_version": 1' in lines[0] and len(lines) == len(outcome.events) + 1
    assert invoke("transcript", "show", "nope", "--db", db).exit_code == 2


def _queued_request(db: str, role: str = "team-lead", hours: float = 1) -> None:
    from agent.gate.approvals import QueueApprover
    from agent.store.engine import make_engine
    from tests.approvals import approval_request

    request = approval_request(hours, role=role)
    assert QueueApprover(make_engine(db)).decide(request) is None


def _status(db: str) -> str:
    from agent.gate.approvals import QueueApprover
    from agent.store.engine import make_engine

    return QueueApprover(make_engine(db)).list()[0].status


def test_approver_is_the_os_user_with_roles_from_the_roster(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    _queued_request(db)
    act_as(monkeypatch, tmp_path, "sam", {"lee": ["team-lead"], "sam": ["agent"]})
    refused = invoke("approvals", "approve", "apr_1", "--db", db)
    assert refused.exit_code == 2 and "does not hold the role 'team-lead'" in refused.output
    assert _status(db) == "pending"  # the real lead is not locked out
    typed = invoke("approvals", "approve", "apr_1", "--by", "lee", "--role", "team-lead")
    assert typed.exit_code == 2  # no free-text identity or role any more
    act_as(monkeypatch, tmp_path, "lee", {"lee": ["team-lead"], "sam": ["agent"]})
    ok = invoke("approvals", "approve", "apr_1", "--db", db)
    assert ok.exit_code == 0 and _status(db) == "approved"


@pytest.mark.parametrize("roster", [None, {}, {"lee": ["team-lead"]}])
def test_nobody_approves_without_a_roster_entry(tmp_path, monkeypatch, roster):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    _queued_request(db)
    act_as(monkeypatch, tmp_path, "mallory", roster)
    refused = invoke("approvals", "approve", "apr_1", "--db", db)
    assert refused.exit_code == 2
    assert "[approvers]" in refused.output.replace("\n", " ")
    assert _status(db) == "pending"


def test_expired_request_is_stored_as_expired(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    _queued_request(db, hours=-1)
    act_as(monkeypatch, tmp_path, "lee", {"lee": ["team-lead"]})
    late = invoke("approvals", "approve", "apr_1", "--db", db)
    assert late.exit_code == 2 and "expired" in late.output
    from sqlmodel import Session

    from agent.gate.approvals import ApprovalRow
    from agent.store.engine import make_engine

    with Session(make_engine(db)) as session:  # read the row itself: list() would mark it too
        row = session.get(ApprovalRow, "apr_1")
        assert row is not None and row.status == "expired"


def test_deny_needs_a_reason(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    _queued_request(db)
    act_as(monkeypatch, tmp_path, "lee", {"lee": ["team-lead"]})
    empty = invoke("approvals", "deny", "apr_1", "--reason", "  ", "--db", db)
    assert empty.exit_code == 2 and "reason" in empty.output
    assert _status(db) == "pending"
