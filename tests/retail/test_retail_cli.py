"""The `db` command group: init, import-retail, export-retail."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tools.retail import DOMAIN

runner = CliRunner()


def invoke(*args):
    return runner.invoke(DOMAIN.cli, [str(a) for a in args])


def test_init_export_import(tmp_path, mini_doc):
    url = f"sqlite:///{tmp_path}/cli.db"
    result = invoke("init", "--db", url, "--seed", "0")
    assert result.exit_code == 0, result.output
    assert "12 products, 40 users" in result.output

    refused = invoke("init", "--db", url)
    assert refused.exit_code == 2
    assert "use --force" in refused.output
    assert "Traceback" not in refused.output

    assert invoke("init", "--db", url, "--seed", "1", "--force").exit_code == 0

    exported = tmp_path / "out.json"
    result = invoke("export-retail", "-o", exported, "--db", url)
    assert result.exit_code == 0, result.output
    assert len(json.loads(exported.read_text())["users"]) == 40
    again = invoke("export-retail", "-o", exported, "--db", url)
    assert again.exit_code == 2 and "exists; pass --force to overwrite it" in again.output
    assert invoke("export-retail", "-o", exported, "--db", url, "--force").exit_code == 0

    source = tmp_path / "mini.json"
    source.write_text(json.dumps(mini_doc))
    refused = invoke("import-retail", source, "--db", url)
    assert refused.exit_code == 2
    assert "already holds retail data (12 products, 40 users" in refused.output
    assert "pass --force" in refused.output
    result = invoke("import-retail", source, "--db", url, "--force")
    assert result.exit_code == 0, result.output
    assert "2 products, 2 users, 7 orders" in result.output

    result = invoke("export-retail", "--db", url)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == mini_doc


def test_import_errors_are_one_line_and_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    missing = invoke("import-retail", tmp_path / "nope.json", "--db", url)
    assert missing.exit_code == 2
    assert "no such file" in missing.output

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = invoke("import-retail", bad, "--db", url)
    assert result.exit_code == 2
    assert "is not readable JSON" in result.output

    bad.write_text('{"orders": {"#W1": {"order_id": "#W1"}}}')
    result = invoke("import-retail", bad, "--db", url)
    assert result.exit_code == 2
    assert "is not a retail document: orders.#W1.user_id" in result.output

    bad.write_text("[1, 2]")
    result = invoke("import-retail", bad, "--db", url)
    assert result.exit_code == 2
    for output in (missing.output, result.output):
        assert "Traceback" not in output
