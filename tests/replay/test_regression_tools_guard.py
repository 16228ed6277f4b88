"""Regression tools never write into live data; they honour the configured policy; bounded input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

import tools.retail  # noqa: F401  (registers the retail tables)
from agent.cli.app import app
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from tools.retail import DOMAIN

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "cancel-with-confirmation.yaml"
RECORDED = ROOT / "scenarios" / "recorded" / "third-return-in-30-days.transcript.jsonl"
DENY_ALL = "version: 1\ndefaults: {read: allow, write: deny}\nrules: []\n"
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
runner = CliRunner()


def live_store(tmp_path: Path) -> str:
    """A store with real data that no regression tool created."""
    db = f"sqlite:///{tmp_path / 'live.db'}"
    with Session(make_engine(db)) as session:
        DOMAIN.seed_demo(session, 0)
        session.commit()
    return db


def conversations(db: str) -> int:
    with Session(make_engine(db)) as session:
        return len(session.exec(select(Conversation)).all())


def status_of(db: str, order: str) -> str:
    with Session(make_engine(db)) as session:
        return str(DOMAIN.snapshot(session)["orders"][order]["status"])


def test_run_refuses_a_store_it_did_not_create(tmp_path):
    db = live_store(tmp_path)
    result = runner.invoke(app, ["run", str(SCENARIO), "--db", db])
    assert result.exit_code == 2
    assert "did not create" in result.output and "live data" in result.output
    assert conversations(db) == 0 and status_of(db, "#W1001001") == "pending"


def test_run_uses_an_empty_store_and_comes_back_to_it(tmp_path):
    db = f"sqlite:///{tmp_path / 'scratch.db'}"
    first = runner.invoke(app, ["run", str(SCENARIO), "--db", db])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["run", str(SCENARIO), "--db", db])
    # Its own scratch store is not refused as live data, but the scenario's data is
    # already there (and changed): it says so instead of running on top of it.
    assert again.exit_code == 2 and "already holds" in again.output
    assert "did not create" not in again.output


def test_replay_refuses_a_store_it_did_not_create(tmp_path):
    db = live_store(tmp_path)
    result = runner.invoke(app, ["replay", str(RECORDED), "--db", db])
    assert result.exit_code == 2 and "did not create" in result.output
    assert conversations(db) == 0


def test_replay_into_an_empty_store_works(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["replay", str(RECORDED), "--db", db])
    assert result.exit_code == 0, result.output


def test_run_honours_policy_option_and_environment(tmp_path, monkeypatch):
    deny = tmp_path / "deny-all.yaml"
    deny.write_text(DENY_ALL)
    by_option = runner.invoke(app, ["run", str(SCENARIO), "--policy", str(deny)])
    assert by_option.exit_code == 1, by_option.output
    monkeypatch.setenv("SUPPORT_AGENT_POLICY", str(deny))
    by_env = runner.invoke(app, ["run", str(SCENARIO)])
    assert by_env.exit_code == 1 and "FAILED" in by_env.output


def test_scenario_data_file_that_is_not_retail_json_is_named(tmp_path):
    data = tmp_path / "notes.json"
    data.write_text('{"hello": "world"}')
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        SCENARIO.read_text().replace("data: {demo_seed: 0}", "data: {file: notes.json}")
    )
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "notes.json" in flat and "data.file" in flat and "Traceback" not in flat


def test_scenario_alias_bomb_is_refused_fast_naming_the_file(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert len(BOMB.encode()) < 400
    started = time.perf_counter()
    result = runner.invoke(app, ["run", str(bomb)])
    assert result.exit_code == 2
    assert "bomb.yaml" in result.output and "aliases" in result.output
    assert time.perf_counter() - started < 60  # a guard against hanging, not a benchmark


def test_policy_alias_bomb_is_a_policy_error(tmp_path):
    from agent.gate.policy_file import PolicyError, load_policy

    bomb = tmp_path / "policy-bomb.yaml"
    bomb.write_text(BOMB)
    with pytest.raises(PolicyError, match=r"policy-bomb\.yaml.*aliases"):
        load_policy(bomb)


def test_config_file_size_and_expiry_are_bounded(tmp_path):
    from agent.config import ConfigError, Settings

    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match=r"big\.toml"):
        Settings.load(config_path=big)
    with pytest.raises(ConfigError, match="approval_expiry_hours"):
        Settings.load({"approval_expiry_hours": 1e12})
