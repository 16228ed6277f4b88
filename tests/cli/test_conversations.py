"""Dead end 1: stored conversations can be found, listed, shown; `run` says where its one is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import run as run_cli
from agent.cli.app import app
from agent.cli.conversations import parse_since

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
runner = CliRunner()


def invoke(*args: str, columns: int = 80):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A database with one finished conversation (cancel-with-confirmation), run via the CLI."""
    path = tmp_path_factory.mktemp("conversations") / "kept.db"
    result = invoke("run", str(SCENARIOS / "cancel-with-confirmation.yaml"), "--db", str(path))
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("conversation "))
    cid = line.split()[1]
    assert line == f"conversation {cid} stored in sqlite:///{path}"
    assert f"support-agent conversations show {cid} --db sqlite:///{path}" in result.output
    return str(path), cid


def test_run_without_db_says_the_conversation_was_discarded() -> None:
    result = invoke("run", str(SCENARIOS / "cancel-with-confirmation.yaml"))
    assert result.exit_code == 0
    assert "ran in a scratch database, now discarded (--keep or --db FILE to keep it)" in (
        result.output.replace("\n", " ")
    )


def test_run_keep_stores_it_under_the_runs_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run_cli, "RUNS_DIR", tmp_path / "runs")
    result = invoke("run", str(SCENARIOS / "customer-declines.yaml"), "--keep", columns=200)
    assert result.exit_code == 0, result.output
    kept = list((tmp_path / "runs").glob("customer-declines-*.db"))
    assert len(kept) == 1
    cid = next(x for x in result.output.splitlines() if x.startswith("conversation ")).split()[1]
    shown = invoke("conversations", "show", cid, "--db", str(kept[0]))
    assert shown.exit_code == 0 and "declined" in shown.output


def test_list_shows_id_status_and_first_message(store) -> None:
    db, cid = store
    result = invoke("conversations", "list", "--db", db)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith(cid))
    assert " done " in row
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_list_json_and_filters(store) -> None:
    db, cid = store
    rows = [
        json.loads(x)
        for x in invoke("conversations", "list", "--db", db, "--json").stdout.splitlines()
    ]
    assert [r["id"] for r in rows] == [cid]
    assert rows[0]["status"] == "done" and rows[0]["events"] > 5
    customer = rows[0]["customer_id"]
    assert customer  # the scenario authenticates a customer
    for args, expected in [
        (["--status", "done"], [cid]),
        (["--status", "paused"], []),
        (["--customer", customer], [cid]),
        (["--customer", "nobody_1"], []),
        (["--since", "1h"], [cid]),
        (["--since", "2999-01-01"], []),
        (["-n", "0"], [cid]),
    ]:
        out = invoke("conversations", "list", "--db", db, "--json", *args).stdout
        assert [json.loads(x)["id"] for x in out.splitlines()] == expected, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "bogus"], "--status 'bogus' is not one of: open, done, paused"),
        (["--since", "yesterday"], "give an age like 30m, 2h, 7d, 1w or a date"),
        (["-n", "-1"], "-n must be 0 (all) or more"),
    ],
)
def test_list_rejects_bad_filters(store, args, message) -> None:
    result = invoke("conversations", "list", "--db", store[0], *args)
    assert result.exit_code == 2
    assert message in result.output


def test_show_prints_the_transcript_and_json(store) -> None:
    db, cid = store
    shown = invoke("conversations", "show", cid, "--db", db)
    assert shown.exit_code == 0
    assert "confirm?" in shown.output and "customer" in shown.output
    lines = invoke("conversations", "show", cid, "--db", db, "--json").stdout.splitlines()
    assert json.loads(lines[0])["seq"] == 1
    missing = invoke("conversations", "show", "nope", "--db", db)
    assert missing.exit_code == 2
    assert "no conversation 'nope'" in missing.output and "conversations list" in missing.output


def test_parse_since() -> None:
    now = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-01-01", now) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since 'soon'"):
        parse_since("soon", now)


def test_listing_works_on_postgres(pg_url: str) -> None:
    from agent.clock import utcnow
    from agent.config import Settings
    from agent.replay.scenario import load_scenario
    from agent.replay.scenario_run import run_scenario
    from agent.store.engine import make_engine
    from agent.transcript.listing import list_conversations
    from tools.retail import DOMAIN

    scenario = load_scenario(SCENARIOS / "customer-declines.yaml")
    outcome = run_scenario(scenario, DOMAIN, Settings.load(), db_url=pg_url)
    engine = make_engine(pg_url, create=False)
    rows = list_conversations(engine, status="done", since=utcnow() - timedelta(hours=1))
    assert [r.id for r in rows] == [outcome.conversation_id]
    assert rows[0].customer_id and rows[0].events == len(outcome.events)
    assert list_conversations(engine, customer=rows[0].customer_id)[0].id == rows[0].id
    engine.dispose()
