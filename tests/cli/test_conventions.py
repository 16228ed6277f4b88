"""Dead end 7: the CLI behaves like tools users already know (gh, llm, pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from agent.cli.app import app
from agent.cli.lazy import lazy_commands, load
from agent.cli.root import domain_group, hoist_global_options

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.startswith("support-agent 0.")


def test_every_option_and_argument_has_help() -> None:
    root = typer.main.get_command(app)
    missing = [
        f"{' '.join(path)} {param.name}"
        for path, command in [*walk(root), *walk(domain_group(), ("db",))]
        for param in getattr(command, "params", [])
        if param.name != "help" and not getattr(param, "help", None)
    ]
    assert missing == []


def test_help_shows_no_type_placeholders_for_flags() -> None:
    result = invoke("run", "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "--verbose" in result.output and "-v" in result.output


@pytest.mark.parametrize("name", sorted(lazy_commands()))
def test_commands_loaded_when_run_keep_the_conventions(name: str) -> None:
    """usage, fake-api, triage, …: plain help, every option explained, no completion flags."""
    command = load(name)
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "--install-completion" not in result.output
    missing = [
        f"{' '.join(path)} {param.name}"
        for path, sub in walk(command, (name,))
        for param in getattr(sub, "params", [])
        if param.name != "help" and not getattr(param, "help", None)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["run", "x.yaml", "--model", "m"], ["--model", "m", "run", "x.yaml"]),
        (["chat", "--max-tokens=5", "-v"], ["--max-tokens=5", "chat", "-v"]),
        (["--config", "c.toml", "chat"], ["--config", "c.toml", "chat"]),
        (["run", "--", "--model"], ["run", "--", "--model"]),
    ],
)
def test_global_options_are_hoisted(args: list[str], hoisted: list[str]) -> None:
    assert hoist_global_options(args) == hoisted


def test_global_option_without_a_value_says_so() -> None:
    result = invoke("run", "x.yaml", "--model")
    assert result.exit_code == 2
    assert "--model needs a value" in result.output


def test_global_option_after_the_command_takes_effect() -> None:
    scenario = str(SCENARIOS / "customer-declines.yaml")
    result = invoke("run", scenario, "--max-tokens", "0")
    assert result.exit_code == 2
    assert "invalid setting max_tokens from overrides" in result.output
    assert "No such option" not in result.output


def test_transcript_export_never_overwrites_without_force(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    ran = invoke("run", str(SCENARIOS / "customer-declines.yaml"), "--db", str(db))
    assert ran.exit_code == 0, ran.output
    cid = next(x for x in ran.output.splitlines() if x.startswith("conversation ")).split()[1]
    out = tmp_path / "t.jsonl"
    out.write_text("precious\n")
    refused = invoke("transcript", "export", cid, "--db", str(db), "-o", str(out))
    assert refused.exit_code == 2 and "exists; pass --force to overwrite it" in refused.output
    assert out.read_text() == "precious\n"
    assert (
        invoke("transcript", "export", cid, "--db", str(db), "-o", str(out), "--force").exit_code
        == 0
    )
    assert '"format_version": 1' in out.read_text()

    again = invoke("run", str(SCENARIOS / "customer-declines.yaml"), "--db", str(db))
    assert again.exit_code == 2
    assert "already holds retail data (an earlier run?)" in again.output.replace("\n", " ")


def test_one_root_cause_is_reported_once(tmp_path: Path) -> None:
    document = yaml.safe_load((SCENARIOS / "cancel-with-confirmation.yaml").read_text())
    del document["turns"][0]["model"][2]  # the script runs out in turn 1: all else follows
    broken = tmp_path / "short.yaml"
    broken.write_text(yaml.safe_dump(document))
    result = invoke("run", str(broken))
    assert result.exit_code == 1, result.output
    assert "FAILED 1 expectation(s)" in result.output
    output = result.output.replace("\n", " ")
    assert "turn 1: the model was called 3 times so far" in output
    assert "the run stopped here" in output


def test_root_help_describes_entry_point_commands_without_importing_them() -> None:
    """`support-agent --help` reads what tickets and triage say of themselves from source."""
    import subprocess
    import sys

    code = (
        "import sys; from agent.cli.lazy import command_help; "
        "print(command_help('tickets')); print(command_help('triage')); "
        "print(any(m.startswith('tools') for m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert shown == [
        "The support inbox: import, list, show, answer.",
        "Gist tickets: exactly three lines, category, urgency, next step (resumable).",
        "False",  # nothing of the domain was imported to say so
    ]


def test_declared_help_falls_back_when_the_source_says_nothing() -> None:
    from agent.cli.lazy import declared_help

    assert declared_help("no_such_package.cli", "app") is None
    assert declared_help("agent.cli.lazy", "no_such_attribute") is None
    assert (
        declared_help("agent.cli.lazy", "load") == "The click command for a lazily registered name."
    )
