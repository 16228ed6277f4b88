"""`support-agent policy check|explain` through typer's CliRunner."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agent.cli.policy import app
from agent.domain import Domain
from tests.toy import registry

RETAIL = str(files("policies").joinpath("retail.yaml"))
TOY_DOMAIN = Domain(
    name="toy",
    registry=registry(),
    system_prompt="",
    policy_path=Path("toy.yaml"),
    seed_demo=lambda session, seed: None,
    import_file=lambda session, path: None,
    snapshot=lambda session: {},
)


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def policy_file(tmp_path: Path, rules: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nrules:\n" + rules)
    return str(path)


def test_check_ok() -> None:
    result = run("check", RETAIL)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ok: 7 rules"


def test_check_bad_file_is_one_line_on_stderr(tmp_path: Path) -> None:
    path = policy_file(tmp_path, "  - {id: x, tools: [a], verdict: maybe, reason: r}\n")
    result = run("check", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: rule 'x' (rules[0]) field 'verdict': 'maybe'")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_check_missing_file() -> None:
    result = run("check", "no/such.yaml")
    assert result.exit_code == 2
    assert "no/such.yaml: cannot read the file" in result.stderr


def test_check_against_a_domain(tmp_path: Path) -> None:
    spec = "tests.cli.test_policy_cli:TOY_DOMAIN"
    good = policy_file(tmp_path, "  - {id: x, tools: [set_value], verdict: confirm, reason: r}\n")
    assert run("check", good, "--domain", spec).exit_code == 0
    typo = policy_file(tmp_path, "  - {id: x, tools: [set_valu], verdict: deny, reason: r}\n")
    result = run("check", typo, "--domain", spec)
    assert result.exit_code == 2
    assert "field 'tools[0]': unknown tool 'set_valu' (did you mean 'set_value'?)" in result.stderr
    result = run("check", good, "--domain", "tests.cli.test_policy_cli:nothing")
    assert result.exit_code == 2
    assert "does not name a Domain" in result.stderr


def test_explain_large_refund() -> None:
    facts = {
        "authenticated": True, "touches_account": True, "owns_target": True,
        "status_allowed": True, "refund_total": 612.5, "refunds_last_30_days": 0,
    }  # fmt: skip
    result = run("explain", RETAIL, "--tool", "cancel_pending_order", "--input",
                 '{"order_id": "#W1", "reason": "no longer needed"}',
                 "--facts", json.dumps(facts))  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "verdict: approve"
    assert lines[1] == "role: team-lead"
    assert "reason: Refunds over $500 need a team lead's approval." in result.stdout
    row = next(line for line in lines if "lead-approves-large-refunds" in line)
    assert "yes" in row and "when matched" in row
    row = next(line for line in lines if "delivered-orders-only" in line)
    assert "no" in row and "tool not listed" in row


def test_explain_read_defaults_to_allow() -> None:
    facts = '{"authenticated": false, "touches_account": false}'
    result = run("explain", RETAIL, "--tool", "find_user_id_by_email", "--effect", "read",
                 "--facts", facts)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verdict: allow\nrole: -\n")
    assert "no rule matched; a read defaults to allow" in result.stdout
    assert "effect read not in [write]" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{bad"], "error: --input is not valid JSON"),
        (["--facts", "[1, 2]"], "error: --facts must be a JSON object, got list"),
        (["--facts", "null"], "error: --facts must be a JSON object, got NoneType"),
    ],
)
def test_explain_bad_json(args: list[str], message: str) -> None:
    result = run("explain", RETAIL, "--tool", "calculate", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_explain_bad_effect_and_bad_policy(tmp_path: Path) -> None:
    result = run("explain", RETAIL, "--tool", "calculate", "--effect", "delete")
    assert result.exit_code == 2
    bad = policy_file(tmp_path, "  - {id: x, tools: [a], verdict: approve, reason: r}\n")
    result = run("explain", bad, "--tool", "a")
    assert result.exit_code == 2
    assert "field 'role'" in result.stderr


def test_no_arguments_shows_help() -> None:
    result = run()
    assert "check" in result.output and "explain" in result.output


def test_check_uses_the_default_domain_without_being_asked(tmp_path: Path) -> None:
    typo = policy_file(
        tmp_path, "  - {id: x, tools: [cancel_pending_ordr], verdict: deny, reason: r}\n"
    )
    result = run("check", typo)
    assert result.exit_code == 2
    assert "unknown tool 'cancel_pending_ordr' (did you mean 'cancel_pending_order'?)" in (
        result.stderr
    )
    assert run("check", typo, "--no-domain").exit_code == 0


def test_check_lists_every_problem(tmp_path: Path) -> None:
    path = policy_file(
        tmp_path,
        "  - {id: x, tools: [a], verdict: maybe, reason: r}\n"
        "  - {id: y, tools: [a], verdict: deny, reason: r, colour: red}\n"
        "  - {id: z, tools: [a], verdict: approve, reason: r}\n",
    )
    result = run("check", path)
    assert result.exit_code == 2
    assert f"error: {path}: 3 problems:" in result.stderr
    for where in ("rule 'x' (rules[0]) field 'verdict'", "rule 'y' (rules[1]) field 'colour'",
                  "rule 'z' (rules[2]) field 'role'"):  # fmt: skip
        assert where in result.stderr
    assert "more problem" not in result.stderr


def test_explain_takes_the_effect_from_the_domain() -> None:
    facts = '{"authenticated": true, "touches_account": true, "owns_target": true}'
    result = run("explain", RETAIL, "--tool", "get_order_details", "--facts", facts)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verdict: allow\n")
    assert "get_order_details (read)" in result.stdout


def test_explain_rejects_unknown_tools_and_contradicting_effects() -> None:
    result = run("explain", RETAIL, "--tool", "get_order_detail")
    assert result.exit_code == 2
    assert "unknown tool 'get_order_detail'" in result.stderr
    assert "did you mean 'get_order_details'?" in result.stderr
    result = run("explain", RETAIL, "--tool", "get_order_details", "--effect", "write")
    assert result.exit_code == 2 and "is a read tool" in result.stderr
    facts = '{"authenticated": true, "touches_account": false}'
    result = run(
        "explain", RETAIL, "--tool", "not_in_domain", "--effect", "write", "--facts", facts
    )
    assert result.exit_code == 0 and result.stdout.startswith("verdict: confirm\n")


def test_explain_why_column_is_in_words() -> None:
    facts = '{"authenticated": true, "touches_account": true, "owns_target": false}'
    result = run("explain", RETAIL, "--tool", "get_order_details", "--facts", facts)
    assert "should not be valid under" not in result.stdout
    row = next(line for line in result.stdout.splitlines() if "authenticate-first" in line)
    assert "no" in row
