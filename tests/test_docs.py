"""The documentation matches the code: settings, env vars and the modules it names."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from agent.config import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "agent/TRANSCRIPTS.md", "policies/README.md", "scenarios/README.md"]


def config_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Configuration") :]
    return [line for line in section.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_readme_lists_every_setting_with_its_toml_key_and_env_var(name: str) -> None:
    rows = [row for row in config_rows() if f"`{name}`" in row or f"`[{name}]`" in row]
    assert rows, f"README's configuration table does not list {name}"
    if name in ENV_VARS:
        assert f"`{ENV_VARS[name]}`" in rows[0]


@pytest.mark.parametrize("doc", DOCS)
def test_dotted_names_in_docs_exist(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = []
    for dotted in sorted(set(re.findall(r"`(agent(?:\.[a-z_]+)+)", text))):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target: object = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                target = getattr(target, attr, None)
            if target is None:
                missing.append(dotted)
            break
    assert missing == []


def test_readme_states_the_python_version_and_the_offline_path() -> None:
    text = (ROOT / "README.md").read_text()
    assert "Python >= 3.11" in text
    assert "## Try everything offline in five minutes" in text
    assert "pytest -rs" in text


def readme_commands() -> list[list[str]]:
    """The arguments of every `support-agent` command in the README's bash blocks."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["support-agent"]:
                    commands.append([w for w in words[1:] if w != "&"])
    return commands


def test_every_readme_command_exists_with_the_options_it_shows() -> None:
    from typer.testing import CliRunner

    from agent.cli.app import app

    commands = readme_commands()
    assert len(commands) >= 12  # the offline path alone has more
    runner = CliRunner()
    for args in commands:
        # --help comes last: click rejects an unknown option or command before it gets there.
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"support-agent {' '.join(args)}: {result.output}"


def test_transcripts_md_documents_every_event_type_and_field() -> None:
    import typing

    from agent.transcript.events import AnyEvent

    text = (ROOT / "agent/TRANSCRIPTS.md").read_text()
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `(\w+)` \|.*$", text, re.MULTILINE)}
    union = typing.get_args(typing.get_args(AnyEvent)[0])
    assert len(union) > 10
    for event in union:
        kind = event.model_fields["type"].default
        assert kind in rows, f"agent/TRANSCRIPTS.md has no row for the {kind} event"
        documented = rows[kind].rsplit(" | ", 1)[-1]
        missing = [f for f in event.model_fields if f != "type" and f"`{f}`" not in documented]
        assert missing == [], f"{kind}: fields {missing} are not in agent/TRANSCRIPTS.md"
