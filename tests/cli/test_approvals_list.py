"""Dead end 6: `approvals list` is readable at 80 columns, pending by default, ids whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from agent.config import Settings
from agent.gate.approvals import QueueApprover
from agent.replay.scenario import load_scenario
from agent.replay.scenario_run import run_scenario
from agent.store.engine import make_engine
from tools.retail import DOMAIN

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "80"})


@pytest.fixture(scope="module")
def queue_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store whose large refund waits for a team lead."""
    db = f"sqlite:///{tmp_path_factory.mktemp('approvals') / 'q.db'}"
    scenario = load_scenario(SCENARIOS / "large-refund-approved.yaml")
    scenario.turns = scenario.turns[:2]
    scenario.expect.status, scenario.expect.executed, scenario.expect.db = "paused", None, None
    assert run_scenario(scenario, DOMAIN, Settings.load(), db_url=db).failures == []
    return db


def test_list_fits_80_columns_with_whole_ids_and_an_amount(queue_db: str) -> None:
    pending = QueueApprover(make_engine(queue_db)).list("pending")[0]
    request_id = pending.request_id
    result = invoke("approvals", "list", "--db", queue_db)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if request_id in line)  # the id is on one line, whole
    assert "pending" in row and "in 23h" in row
    payout = pending.request["payout"]  # the domain names the fact: retail's refund_total
    assert payout == pending.request["facts"]["refund_total"] > 0
    assert f"${payout:,.2f}" in row and "payout" in lines[0]
    assert pending.conversation_id in row
    assert "return_delivered_order_items" in result.output


def test_pending_by_default_and_status_validated(queue_db: str) -> None:
    request_id = QueueApprover(make_engine(queue_db)).list("pending")[0].request_id
    bogus = invoke("approvals", "list", "--db", queue_db, "--status", "bogus")
    assert bogus.exit_code == 2
    assert "--status 'bogus' is not one of: pending, approved, denied, expired, all" in bogus.output
    approved = invoke("approvals", "list", "--db", queue_db, "--status", "approved")
    assert approved.exit_code == 0 and "no approved approval requests" in approved.output
    rows = invoke("approvals", "list", "--db", queue_db, "--json", "--status", "all").stdout
    assert [json.loads(x)["request_id"] for x in rows.splitlines()] == [request_id]
    default = invoke("approvals", "list", "--db", queue_db, "--json").stdout
    assert [json.loads(x)["status"] for x in default.splitlines()] == ["pending"]
