"""Dead end 5: --db is validated, read-only commands never create a database, errors name it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from agent.store.engine import DatabaseUrlError, check_url

runner = CliRunner()
READ_ONLY = [
    ["conversations", "list"],
    ["conversations", "show", "x"],
    ["transcript", "show", "x"],
    ["transcript", "export", "x"],
    ["approvals", "list"],
    ["approvals", "show", "apr_x"],
]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("::::", "is neither a URL (scheme://…) nor a file path"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("", "the database is empty"),
        ("postgresql://u:hunter2@h:notaport/db", "is not a valid URL"),
    ],
)
def test_bad_urls_are_refused(value: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=re.escape(problem)) as caught:
        check_url(value)
    assert "hunter2" not in str(caught.value)


def test_good_urls_are_normalized(tmp_path: Path) -> None:
    assert check_url("x.db") == "sqlite:///x.db"
    assert check_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(DatabaseUrlError, match="is a directory"):
        check_url(str(tmp_path))


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_commands_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo.db"
    result = invoke(*command, "--db", str(missing))
    assert result.exit_code == 2
    assert f"no database at {missing}" in result.output
    assert "support-agent db init" in result.output
    assert not missing.exists()


@pytest.mark.parametrize("command", READ_ONLY[:2])
def test_nonsense_db_is_one_clear_line_and_no_file(tmp_path: Path, monkeypatch, command) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*command, "--db", "::::")
    assert result.exit_code == 2
    assert "'::::' is neither a URL" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("these are not the tables you are looking for\n" * 100)
    result = invoke("conversations", "list", "--db", str(junk))
    assert result.exit_code == 2
    assert f"cannot open the database sqlite:///{junk}" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


def test_an_empty_sqlite_file_is_not_a_support_agent_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = invoke("approvals", "list", "--db", str(empty))
    assert result.exit_code == 2
    assert "is not a support-agent database" in result.output


def test_run_db_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "customer-declines.yaml"
    result = invoke("run", str(scenario), "--db", str(tmp_path / "no" / "such" / "x.db"))
    assert result.exit_code == 2
    assert "the directory" in result.output and "does not exist" in result.output
